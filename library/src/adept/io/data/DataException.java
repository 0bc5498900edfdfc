package adept.io.data;

import adept.AdeptException;

/** A corpus that cannot be read as asked: names the file and, where it applies, the line. */
public final class DataException extends AdeptException {
    /** An error with its one-line message. */
    public DataException(String message) {
        super(message);
    }

    /** An error with its one-line message and the failure behind it. */
    public DataException(String message, Throwable cause) {
        super(message, cause);
    }
}
