package adept.nn;

import adept.AdeptException;

/** A model that cannot be built as described: a bad config value, or a missing or misshapen tensor. */
public final class ModelException extends AdeptException {
    /** An error with its one-line message. */
    public ModelException(String message) {
        super(message);
    }
}
