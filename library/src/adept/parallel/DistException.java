package adept.parallel;

import adept.AdeptException;

/** A distributed-training failure with a one-line message: bad torchrun variables, a rendezvous that timed out, a peer gone. */
public final class DistException extends AdeptException {
    /** An error with its one-line message. */
    public DistException(String message) {
        super(message);
    }
}
