package adept.cli;

import static org.junit.jupiter.api.Assertions.*;

import adept.testing.TinyModel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** `adept train` as a user runs it: outputs other commands load, and bad input as one-line errors before any work. */
class TrainCommandTest {
    @TempDir
    Path dir;
    Path model;
    Path data;
    Path probe;
    Path eval;

    @BeforeEach
    void files() throws Exception {
        model = TinyModel.write(dir.resolve("base"), 3);
        data = Files.writeString(dir.resolve("domain.jsonl"), String.join("\n", java.util.Collections.nCopies(60,
                "{\"text\": \"one plus two equals three . what is the answer ? the answer is three .\"}")) + "\n");
        eval = Files.writeString(dir.resolve("heldout.txt"), "two plus two equals four . the cat sat on the mat .\n");
        probe = TinyModel.writeProbe(dir.resolve("probe.jsonl"));
    }

    List<String> args(Path out, String... extra) {
        List<String> a = new ArrayList<>(List.of("train", "--model", model.toString(), "--data", data.toString(), "--probe", probe.toString(),
                "--eval", eval.toString(), "--out", out.toString(), "--k", "1", "--steps", "6", "--block-size", "16", "--batch-size", "2",
                "--refresh-every", "3", "--lr", "1e-3"));
        a.addAll(Arrays.asList(extra));
        return a;
    }

    @Test
    void trainedModelWorksWithEvalAndGenerate() throws Exception {
        Path out = dir.resolve("run");
        TinyModel.Run r = TinyModel.adept(args(out).toArray(String[]::new));
        assertEquals(0, r.exit(), r.err());
        Path trained = out.resolve("model");
        assertTrue(Files.isRegularFile(trained.resolve("adept_expansion.json")));
        // The command attaches the plots (the library's trainer draws none).
        for (String png : List.of("loss.png", "importance.png", "rates.png")) assertTrue(Files.isRegularFile(out.resolve(png)), png + " written");
        TinyModel.Run e = TinyModel.adept("eval", "--model", trained.toString(), "--data", eval.toString());
        assertEquals(0, e.exit(), e.err());
        assertTrue(e.out().contains("loss") || e.out().contains("perplexity"), e.out());
        TinyModel.Run g = TinyModel.adept("generate", "--model", trained.toString(), "--prompt", "one plus", "--max-new-tokens", "4");
        assertEquals(0, g.exit(), g.err());
        // a checkpoint is a model folder too
        Path checkpoint = out.resolve("checkpoints/step-00000006");
        assertEquals(0, TinyModel.adept("eval", "--model", checkpoint.toString(), "--data", eval.toString()).exit());
    }

    @Test
    void initWritesARandomModelThatPretrainsFromScratch() throws Exception {
        Path random = dir.resolve("random");
        TinyModel.Run init = TinyModel.adept("init", "--tokenizer", model.toString(), "--out", random.toString(), "--hidden", "32", "--layers", "2",
                "--heads", "4", "--kv-heads", "2", "--intermediate", "48", "--context", "64");
        assertEquals(0, init.exit(), init.err());
        assertTrue(init.out().contains("vocab " + TinyModel.VOCAB), init.out());
        assertTrue(Files.isRegularFile(random.resolve("tokenizer.json")));
        Path out = dir.resolve("pretrain");
        TinyModel.Run r = TinyModel.adept("train", "--model", random.toString(), "--data", data.toString(), "--out", out.toString(),
                "--mode", "full", "--steps", "20", "--block-size", "16", "--batch-size", "2", "--lr", "3e-3", "--warmup-steps", "0");
        assertEquals(0, r.exit(), r.err());
        List<com.google.gson.JsonObject> metrics = adept.train.RunLog.read(out.resolve("metrics.jsonl"));
        double first = metrics.get(0).get("loss").getAsDouble();
        double last = metrics.get(metrics.size() - 1).get("loss").getAsDouble();
        assertTrue(first > Math.log(TinyModel.VOCAB) - 0.5, "a random model starts near ln(V): " + first);
        assertTrue(last < first - 1, "and learns the repetitive corpus: " + first + " -> " + last);
        TinyModel.adept("init", "--tokenizer", model.toString(), "--out", random.toString()).assertUsageError("exists");
    }

    void assertRefusedBeforeAnyWork(String expected, List<String> arguments, Path out) {
        TinyModel.Run r = TinyModel.adept(arguments.toArray(String[]::new));
        if (r.exit() == 2 && r.err().startsWith("adept: ")) r.assertUserError(expected);
        else r.assertUsageError(expected);
        assertFalse(Files.exists(out), "nothing written to " + out);
    }

    @Test
    void badInputIsOneLineBeforeAnyTraining() throws Exception {
        Path out = dir.resolve("refused");
        Path empty = Files.writeString(dir.resolve("empty.jsonl"), "");
        Path badProbe = Files.writeString(dir.resolve("badprobe.jsonl"), "{\"text\": \"the cat\"}\n{\"text\": oops}\n");
        Path badEval = Files.writeString(dir.resolve("badeval.jsonl"), "{\"text\": \"the cat\"}\n{\"txt\": \"no\"}\n");
        List<String> base = args(out);
        assertRefusedBeforeAnyWork("no such file", replace(base, "--data", dir.resolve("missing.jsonl").toString()), out);
        assertRefusedBeforeAnyWork("empty", replace(base, "--data", empty.toString()), out);
        assertRefusedBeforeAnyWork("badprobe.jsonl:2", replace(base, "--probe", badProbe.toString()), out);
        assertRefusedBeforeAnyWork("badeval.jsonl:2", replace(base, "--eval", badEval.toString()), out);
        assertRefusedBeforeAnyWork("lr must be > 0", replace(base, "--lr", "-1"), out);
        assertRefusedBeforeAnyWork("lr must be > 0", replace(base, "--lr", "0"), out);
        assertRefusedBeforeAnyWork("refresh_every (R) must be > 0", replace(base, "--refresh-every", "0"), out);
        assertRefusedBeforeAnyWork("quantile must be in (0, 1)", args(out, "--quantile", "1.5"), out);
        assertRefusedBeforeAnyWork("lr_low must be > 0", args(out, "--rate-mode", "split", "--lr-low", "0"), out);
        assertRefusedBeforeAnyWork("exceeds the model's context", replace(base, "--block-size", "100"), out);
        assertRefusedBeforeAnyWork("unknown mode", args(out, "--mode", "fancy"), out);
        assertRefusedBeforeAnyWork("probe_cache_memory: expected a size such as 4GiB", args(out, "--probe-cache-memory", "lots"), out);
        assertRefusedBeforeAnyWork("grad_checkpointing must be >= 0", args(out, "--grad-checkpointing", "-1"), out);
        // adept on an unexpanded model needs something to choose layers with
        List<String> noProbe = new ArrayList<>(base);
        int at = noProbe.indexOf("--probe");
        noProbe.remove(at);
        noProbe.remove(at);
        assertRefusedBeforeAnyWork("refreshes unit importance on a probe corpus", noProbe, out);
        List<String> noStage2 = new ArrayList<>(noProbe);
        noStage2.addAll(List.of("--mode", "adept-no-stage2"));
        assertRefusedBeforeAnyWork("has no expansion metadata", noStage2, out);
    }

    @Test
    void anotherRunsOutputFolderIsRefused() throws Exception {
        Path out = dir.resolve("run");
        assertEquals(0, TinyModel.adept(args(out).toArray(String[]::new)).exit());
        byte[] before = Files.readAllBytes(out.resolve("metrics.jsonl"));
        TinyModel.Run r = TinyModel.adept(replace(args(out), "--lr", "2e-3").toArray(String[]::new));
        r.assertUserError("holds a run with other settings (differs in lr)");
        assertArrayEquals(before, Files.readAllBytes(out.resolve("metrics.jsonl")), "the earlier run is untouched");
        // the same settings again: already complete, resumes at the end and rewrites the final outputs; memory settings may differ
        assertEquals(0, TinyModel.adept(args(out).toArray(String[]::new)).exit());
        TinyModel.Run lean = TinyModel.adept(args(out, "--grad-checkpointing", "2", "--probe-cache-memory", "512MiB").toArray(String[]::new));
        assertEquals(0, lean.exit(), lean.err());
    }

    static List<String> replace(List<String> args, String option, String value) {
        List<String> out = new ArrayList<>(args);
        out.set(out.indexOf(option) + 1, value);
        return out;
    }
}
