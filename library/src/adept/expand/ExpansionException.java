package adept.expand;

import adept.AdeptException;

/** An expansion that cannot be done as asked (bad K, repeated or out-of-range layers). */
public final class ExpansionException extends AdeptException {
    /** An error with its one-line message. */
    public ExpansionException(String message) {
        super(message);
    }
}
