package adept.train;

import adept.AdeptException;

/** A training run that cannot start or go on as asked: the message names the setting, file or step. */
public final class TrainException extends AdeptException {
    public TrainException(String message) {
        super(message);
    }

    public TrainException(String message, Throwable cause) {
        super(message, cause);
    }
}
