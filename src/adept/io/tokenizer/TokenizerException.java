package adept.io.tokenizer;

import adept.AdeptException;

/** A tokenizer could not be loaded or used: a missing or malformed file (named in the message), or a bad request. */
public final class TokenizerException extends AdeptException {
    public TokenizerException(String message) {
        super(message);
    }

    public TokenizerException(String message, Throwable cause) {
        super(message, cause);
    }
}
