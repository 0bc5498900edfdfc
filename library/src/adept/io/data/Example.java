package adept.io.data;

/**
 * A tokenized item: ids and, per position, whether that token is a prediction target
 * (predicted from the tokens before it). Position 0 is never a target.
 */
public record Example(long[] ids, boolean[] targets, long line) {
    public Example {
        if (ids.length != targets.length) throw new IllegalArgumentException("ids and targets differ in length");
    }

    /** The number of tokens. */
    public int length() {
        return ids.length;
    }

    /** The number of predicted positions (targets after the first token). */
    public long targetCount() {
        long n = 0;
        for (int i = 1; i < targets.length; i++) if (targets[i]) n++;
        return n;
    }
}
