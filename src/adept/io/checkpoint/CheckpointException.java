package adept.io.checkpoint;

import adept.AdeptException;

/**
 * A checkpoint could not be read or written: a missing, malformed or inconsistent file, or a model that
 * does not match its config.json. The message names the file and, where one is involved, the tensor or field.
 */
public final class CheckpointException extends AdeptException {
    /** An error with its one-line message. */
    public CheckpointException(String message) {
        super(message);
    }

    /** An error with its one-line message and the failure behind it. */
    public CheckpointException(String message, Throwable cause) {
        super(message, cause);
    }
}
