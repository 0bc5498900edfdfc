package adept.train;

import adept.AdeptException;

/** A training run that cannot start or go on as asked: the message names the setting, file or step. */
public final class TrainException extends AdeptException {
    /** An error with its one-line message. */
    public TrainException(String message) {
        super(message);
    }

    /** An error with its one-line message and the failure behind it. */
    public TrainException(String message, Throwable cause) {
        super(message, cause);
    }
}
