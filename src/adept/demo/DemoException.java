package adept.demo;

import adept.AdeptException;

/** A demo failure the user can fix (no network, a missing tool, a folder holding another run); its message is one line. */
public final class DemoException extends AdeptException {
    public DemoException(String message) {
        super(message);
    }

    public DemoException(String message, Throwable cause) {
        super(message, cause);
    }
}
