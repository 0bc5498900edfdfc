package adept.io.tokenizer;

import adept.AdeptException;

/** A tokenizer could not be loaded or used: a missing or malformed file (named in the message), or a bad request. */
public final class TokenizerException extends AdeptException {
    /** An error with its one-line message. */
    public TokenizerException(String message) {
        super(message);
    }

    /** An error with its one-line message and the failure behind it. */
    public TokenizerException(String message, Throwable cause) {
        super(message, cause);
    }
}
