package adept.train;

import adept.io.data.CorpusItem;
import adept.io.data.DataException;
import adept.io.tokenizer.Tokenizer;
import adept.io.tokenizer.TokenizerException;
import java.util.ArrayList;
import java.util.List;

/**
 * What a run without files trains on ({@link Trainer#train(adept.nn.CausalLM, InMemoryData)}): texts and their
 * tokenizer, or token blocks; optionally probe texts (for the modes that probe layers or refresh importance) and
 * held-out texts. Texts are tokenized as a JSON Lines corpus's documents are (each: BOS when the tokenizer adds one,
 * its ids, EOS) and packed into blocks as a token file is, so the same texts train as the file-based run does.
 */
public final class InMemoryData {
    private final long[] tokens;
    private final int blockSize;  // 0: texts, cut into the settings' block size
    private final Tokenizer tokenizer;  // null: blocks given as ids
    private final List<String> probe;
    private final List<String> eval;

    private InMemoryData(long[] tokens, int blockSize, Tokenizer tokenizer, List<String> probe, List<String> eval) {
        this.tokens = tokens;
        this.blockSize = blockSize;
        this.tokenizer = tokenizer;
        this.probe = probe;
        this.eval = eval;
    }

    /** Training texts, each a document, tokenized by tokenizer (the model's; the caller closes it after the run). */
    public static InMemoryData texts(Tokenizer tokenizer, List<String> texts) {
        if (texts.isEmpty()) throw new DataException("the training texts in memory: none given");
        long eos = tokenizer.eosId().orElseThrow(() -> new DataException("the tokenizer has no end-of-text token to close each text with"));
        boolean bos = tokenizer.addsBosByDefault();
        List<long[]> documents = new ArrayList<>();
        long total = 0;
        for (int i = 0; i < texts.size(); i++) {
            long[] ids;
            try {
                ids = tokenizer.encode(texts.get(i));
            } catch (TokenizerException e) {
                throw new DataException("training text " + i + ": " + e.getMessage(), e);
            }
            documents.add(ids);
            total += ids.length + 1 + (bos ? 1 : 0);
        }
        long[] stream = new long[Math.toIntExact(total)];
        int at = 0;
        for (long[] ids : documents) {
            if (bos) stream[at++] = tokenizer.bosId().orElseThrow();
            System.arraycopy(ids, 0, stream, at, ids.length);
            at += ids.length;
            stream[at++] = eos;
        }
        return new InMemoryData(stream, 0, tokenizer, List.of(), List.of());
    }

    /** Training blocks of token ids, all of one length (the run's block size), trained in a seeded shuffled order per epoch. */
    public static InMemoryData blocks(int[][] blocks) {
        if (blocks.length == 0) throw new DataException("the training blocks in memory: none given");
        int length = blocks[0].length;
        long[] stream = new long[Math.multiplyExact(blocks.length, length)];
        for (int b = 0; b < blocks.length; b++) {
            if (blocks[b].length != length) {
                throw new DataException("training block " + b + " has " + blocks[b].length + " tokens, block 0 has " + length + ": give blocks of one length");
            }
            for (int i = 0; i < length; i++) stream[b * length + i] = blocks[b][i];
        }
        return new InMemoryData(stream, length, null, List.of(), List.of());
    }

    /** With the model's tokenizer, for probe or held-out texts beside token blocks. */
    public InMemoryData withTokenizer(Tokenizer tokenizer) {
        return new InMemoryData(tokens, blockSize, tokenizer, probe, eval);
    }

    /** With probe texts: the layer probe's and the importance refreshes' data. */
    public InMemoryData withProbe(List<String> texts) {
        return new InMemoryData(tokens, blockSize, tokenizer, List.copyOf(texts), eval);
    }

    /** With held-out texts, evaluated as an eval corpus is. */
    public InMemoryData withEval(List<String> texts) {
        return new InMemoryData(tokens, blockSize, tokenizer, probe, List.copyOf(texts));
    }

    long[] tokens() {
        return tokens;
    }

    /** The blocks' length when given as blocks; 0 for texts. */
    int blockSize() {
        return blockSize;
    }

    Tokenizer tokenizer() {
        return tokenizer;
    }

    List<String> probe() {
        return probe;
    }

    List<String> eval() {
        return eval;
    }

    /** Texts as a corpus's items (numbered from 1, as lines are). */
    static List<CorpusItem> items(List<String> texts) {
        List<CorpusItem> items = new ArrayList<>();
        for (int i = 0; i < texts.size(); i++) items.add(new CorpusItem.Text(texts.get(i), i + 1));
        return items;
    }
}
