package adept.demo;

import adept.AdeptException;

/** A demo failure the user can fix (no network, a missing tool, a folder holding another run); its message is one line. */
public final class DemoException extends AdeptException {
    /** An error with its one-line message. */
    public DemoException(String message) {
        super(message);
    }

    /** An error with its one-line message and the failure behind it. */
    public DemoException(String message, Throwable cause) {
        super(message, cause);
    }
}
