package adept;

/**
 * The base of every error adept reports about its input, its state or libtorch: one type to
 * catch for "adept said no", with a message meant for a person (the CLI prints it as one line).
 * Each layer throws its own subtype (TorchException, CheckpointException, DataException, ...).
 */
public abstract class AdeptException extends RuntimeException {
    protected AdeptException(String message) {
        super(message);
    }

    protected AdeptException(String message, Throwable cause) {
        super(message, cause);
    }
}
