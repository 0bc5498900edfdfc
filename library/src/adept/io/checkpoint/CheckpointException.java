package adept.io.checkpoint;

import adept.AdeptException;

/**
 * A checkpoint could not be read or written: a missing, malformed or inconsistent file, or a model that
 * does not match its config.json. The message names the file and, where one is involved, the tensor or field.
 * It is one line: control characters (a tensor name with a new line or NUL in it) are shown as {@code \\uXXXX}.
 */
public final class CheckpointException extends AdeptException {
    /** An error with its one-line message. */
    public CheckpointException(String message) {
        super(oneLine(message));
    }

    /** An error with its one-line message and the failure behind it. */
    public CheckpointException(String message, Throwable cause) {
        super(oneLine(message), cause);
    }

    static String oneLine(String message) {
        if (message == null || message.chars().noneMatch(c -> c < 0x20 || c == 0x7f)) return message;
        StringBuilder b = new StringBuilder(message.length() + 16);
        for (int i = 0; i < message.length(); i++) {
            char c = message.charAt(i);
            if (c < 0x20 || c == 0x7f) b.append(String.format("\\u%04x", (int) c));
            else b.append(c);
        }
        return b.toString();
    }
}
