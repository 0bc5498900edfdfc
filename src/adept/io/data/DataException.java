package adept.io.data;

/** A corpus that cannot be read as asked: names the file and, where it applies, the line. */
public final class DataException extends RuntimeException {
    public DataException(String message) {
        super(message);
    }

    public DataException(String message, Throwable cause) {
        super(message, cause);
    }
}
