package adept.train;

import adept.AdeptException;

/** A training run that cannot start or go on as asked: the message names the setting, file or step. */
public final class TrainException extends AdeptException {
    private final boolean diverged;

    /** An error with its one-line message. */
    public TrainException(String message) {
        this(message, false);
    }

    private TrainException(String message, boolean diverged) {
        super(message);
        this.diverged = diverged;
    }

    /** The run diverged (a non-finite loss or gradient norm): the settings, not the inputs, are at fault. */
    public static TrainException diverged(String message) {
        return new TrainException(message, true);
    }

    /** True when the run stopped because it diverged (a sweep records it and goes on). */
    public boolean diverged() {
        return diverged;
    }

    /** An error with its one-line message and the failure behind it. */
    public TrainException(String message, Throwable cause) {
        super(message, cause);
        this.diverged = false;
    }
}
