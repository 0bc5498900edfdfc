package adept.cli;

import static org.junit.jupiter.api.Assertions.*;

import adept.io.tokenizer.Tokenizer;
import adept.testing.TinyModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** `adept tokenizer` (SentencePiece through Debian's spm_train) writes a tokenizer every adept command loads. */
class TokenizerCommandTest {
    @TempDir
    Path dir;

    static boolean spmTrainInstalled() {
        for (String p : System.getenv().getOrDefault("PATH", "").split(":")) if (Files.isExecutable(Path.of(p, "spm_train"))) return true;
        return false;
    }

    @Test
    void trainsATokenizerThatRoundTripsAndInitUses() throws Exception {
        Assumptions.assumeTrue(spmTrainInstalled(), "spm_train (Debian package sentencepiece) is not installed");
        Random r = new Random(3);
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < 400; i++) {
            StringBuilder b = new StringBuilder();
            for (int w = 0; w < 12; w++) b.append(w == 0 ? "" : " ").append(TinyModel.WORDS.get(r.nextInt(TinyModel.WORDS.size())));
            lines.add("{\"text\": \"" + b.toString().replace("\"", "") + "\"}");
        }
        Path corpus = Files.write(dir.resolve("c.jsonl"), lines);
        Path out = dir.resolve("tok");
        TinyModel.Run run = TinyModel.adept("tokenizer", "--data", corpus.toString(), "--vocab", "400", "--out", out.toString());
        assertEquals(0, run.exit(), run.err());
        try (Tokenizer t = Tokenizer.load(out)) {
            String text = "the cat sat on the mat and the dog ran home";
            long[] ids = t.encode(text, false, false);
            assertTrue(ids.length > 0 && ids.length < text.length());
            assertEquals(text, t.decode(ids, true));
            assertTrue(t.eosId().isPresent() && t.addsBosByDefault());
        }
        TinyModel.Run init = TinyModel.adept("init", "--tokenizer", out.toString(), "--out", dir.resolve("m").toString(), "--hidden", "32",
                "--layers", "1", "--heads", "4", "--kv-heads", "2", "--intermediate", "32", "--context", "32");
        assertEquals(0, init.exit(), init.err());
        try (var files = Files.list(out)) {
            assertTrue(files.noneMatch(p -> p.getFileName().toString().startsWith(".spm-input")), "the training input is removed");
        }
    }
}
