package adept.expand;

/** An expansion that cannot be done as asked (bad K, repeated or out-of-range layers). */
public final class ExpansionException extends RuntimeException {
    /** An error with its one-line message. */
    public ExpansionException(String message) {
        super(message);
    }
}
