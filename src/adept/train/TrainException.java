package adept.train;

/** A training run that cannot start or go on as asked: the message names the setting, file or step. */
public final class TrainException extends RuntimeException {
    public TrainException(String message) {
        super(message);
    }

    public TrainException(String message, Throwable cause) {
        super(message, cause);
    }
}
