package adept.tensor;

import adept.AdeptException;

/** An error reported by libtorch or by adept's tensor layer, with a readable message. */
public final class TorchException extends AdeptException {
    /** An error with its one-line message. */
    public TorchException(String message) {
        super(message);
    }

    /** An error with its one-line message and the failure behind it. */
    public TorchException(String message, Throwable cause) {
        super(message, cause);
    }
}
