package adept.dist;

/** A distributed-training failure with a one-line message: bad torchrun variables, a rendezvous that timed out, a peer gone. */
public final class DistException extends RuntimeException {
    public DistException(String message) {
        super(message);
    }
}
