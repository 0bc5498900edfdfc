package adept.tensor;

import adept.AdeptException;

/** An error reported by libtorch or by adept's tensor layer, with a readable message. */
public final class TorchException extends AdeptException {
    public TorchException(String message) {
        super(message);
    }

    public TorchException(String message, Throwable cause) {
        super(message, cause);
    }
}
