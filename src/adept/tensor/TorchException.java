package adept.tensor;

/** An error reported by libtorch or by adept's tensor layer, with a readable message. */
public final class TorchException extends RuntimeException {
    public TorchException(String message) {
        super(message);
    }

    public TorchException(String message, Throwable cause) {
        super(message, cause);
    }
}
