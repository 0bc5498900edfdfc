package adept.cli;

import static adept.testing.TinyModel.adept;
import static org.junit.jupiter.api.Assertions.*;

import adept.io.checkpoint.Checkpoint;
import adept.io.data.Batch;
import adept.io.data.CorpusReader;
import adept.io.data.Example;
import adept.io.data.Examples;
import adept.io.tokenizer.Tokenizer;
import adept.nn.CausalLM;
import adept.probe.LayerImportance;
import adept.probe.LayerProbe;
import adept.probe.ProbeReport;
import adept.tensor.DType;
import adept.tensor.Device;
import adept.tensor.Scope;
import adept.testing.TinyModel;
import adept.testing.TinyModel.Run;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ProbeCommandTest {
    @TempDir
    static Path shared;
    static Path model;
    static Path probe;

    @TempDir
    Path tmp;

    @BeforeAll
    static void setUp() throws IOException {
        model = shared.resolve("tiny-qwen3");
        TinyModel.write(model, 11);
        probe = shared.resolve("probe.jsonl");
        TinyModel.writeProbe(probe);
    }

    @Test
    void writesReportAndPlotMatchingTheReferenceProbe() throws IOException {
        Path out = tmp.resolve("probe-out");
        Run r = adept("probe", "--model", model.toString(), "--probe", probe.toString(), "--out", out.toString(),
                "--batch-size", "3", "--highlight", "2");
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().contains("layer          dL  normalised"), r.out());
        assertTrue(r.out().contains("<- lowest 2"), r.out());

        ProbeReport report = ProbeReport.read(out.resolve("importance.json"));
        assertEquals(TinyModel.LAYERS, report.layers());
        assertEquals(10, report.items());
        assertEquals(4, report.batches());
        assertEquals(64, report.maxLength());  // max_position_embeddings (< 2048)
        assertEquals(2, report.highlightK());
        assertEquals("Qwen3ForCausalLM", report.architecture());
        assertEquals(report.importance().lowest(2), report.lowest());

        // The same numbers as the plain reference probe (M+1 full passes) over the same batches.
        LayerImportance expected;
        try (Tokenizer tok = Tokenizer.load(model); CausalLM lm = Checkpoint.load(model, DType.FLOAT32, Device.CPU); Scope scope = Scope.open()) {
            List<Example> examples = Examples.tokenize(probe, CorpusReader.read(probe), tok, 64, Examples.LongItems.ERROR, 0);
            List<Batch> batches = new ArrayList<>();
            for (int s = 0; s < examples.size(); s += 3) batches.add(Batch.of(examples.subList(s, Math.min(s + 3, examples.size())), 0, Device.CPU));
            expected = new LayerProbe(lm).probePlain(batches);
        }
        assertEquals(expected.targetTokens(), report.importance().targetTokens());
        assertEquals(expected.baseLoss(), report.importance().baseLoss(), 1e-5);
        for (int l = 0; l < TinyModel.LAYERS; l++) assertEquals(expected.deltas()[l], report.importance().deltas()[l], 1e-5);

        BufferedImage png = ImageIO.read(out.resolve("importance.png").toFile());
        assertNotNull(png);
        assertEquals(1000, png.getWidth());
        assertEquals(500, png.getHeight());
        try (Stream<Path> files = Files.list(out)) {  // no temporary files left
            assertEquals(List.of("importance.json", "importance.png"), files.map(p -> p.getFileName().toString()).sorted().toList());
        }
    }

    @Test
    void tokenBudgetStopsReadingEarly() throws IOException {
        Path out = tmp.resolve("budget");
        Run r = adept("probe", "--model", model.toString(), "--probe", probe.toString(), "--out", out.toString(),
                "--token-budget", "10");
        assertEquals(0, r.exit(), r.err());
        ProbeReport report = ProbeReport.read(out.resolve("importance.json"));
        assertEquals(2, report.examples());  // 7 + 13 targets (BOS is not a target): stops after the second item
        assertEquals(10, report.tokenBudget());
    }

    @Test
    void aSmallCacheBudgetRecomputesInputsWithTheSameResult() throws IOException {
        Path plain = tmp.resolve("cache-all");
        Path bounded = tmp.resolve("cache-1k");
        Run all = adept("probe", "--model", model.toString(), "--probe", probe.toString(), "--out", plain.toString(), "--batch-size", "4");
        assertEquals(0, all.exit(), all.err());
        assertFalse(all.err().contains("probe cache bounded"), all.err());
        // a batch's input is 4 x <= 16 tokens x 32 x 4 bytes = 8 KiB at most: 1 KiB holds none, so the fewest (stride 2 of 4 layers)
        Run r = adept("probe", "--model", model.toString(), "--probe", probe.toString(), "--out", bounded.toString(), "--batch-size", "4",
                "--probe-cache-memory", "1KiB");
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.err().contains("adept probe: probe cache bounded: 4 layer inputs of ") && r.err().contains("checkpoints every 2 layers"), r.err());
        LayerImportance a = ProbeReport.read(plain.resolve("importance.json")).importance();
        LayerImportance b = ProbeReport.read(bounded.resolve("importance.json")).importance();
        assertEquals(a.baseLoss(), b.baseLoss(), 0.0);
        assertArrayEquals(a.skipLoss(), b.skipLoss(), 0.0);
        adept("probe", "--model", model.toString(), "--probe", probe.toString(), "--out", bounded.toString(), "--probe-cache-memory", "lots")
                .assertUsageError("--probe-cache-memory: expected a size such as 4GiB or 512MiB, got 'lots'");
    }

    /** Runs probe into tmp/never with args, expecting it to fail without leaving the output folder behind. */
    private Run probeFails(String... args) {
        Path out = tmp.resolve("never");
        List<String> all = new ArrayList<>(List.of("probe", "--model", model.toString(), "--out", out.toString()));
        all.addAll(List.of(args));
        Run r = adept(all.toArray(String[]::new));
        assertNotEquals(0, r.exit(), r.out());
        assertFalse(Files.exists(out), "output folder left behind");
        return r;
    }

    @Test
    void emptyProbeFile() throws IOException {
        Path empty = tmp.resolve("empty.jsonl");
        Files.writeString(empty, "\n\n");
        probeFails("--probe", empty.toString()).assertUserError("the corpus is empty");
    }

    @Test
    void malformedLineIsReportedWithItsNumber() throws IOException {
        Path bad = tmp.resolve("bad.jsonl");
        Files.writeString(bad, "{\"text\": \"the cat\"}\n{\"text\": \"the dog\"}\n{\"text\": oops}\n", StandardCharsets.UTF_8);
        probeFails("--probe", bad.toString()).assertUserError(bad + ":3: malformed JSON");
    }

    @Test
    void itemLongerThanTheContext() {
        // 13 words and BOS
        probeFails("--probe", probe.toString(), "--max-length", "8").assertUserError(probe + ":2: item has 14 tokens, more than the context length 8");
    }

    @Test
    void maxLengthBeyondThePositions() {
        probeFails("--probe", probe.toString(), "--max-length", "65").assertUsageError("exceeds the model's max_position_embeddings 64");
    }

    @Test
    void missingProbeFileAndModel() {
        probeFails("--probe", tmp.resolve("nope.jsonl").toString()).assertUserError("no such file");
        adept("probe", "--model", tmp.resolve("nomodel").toString(), "--probe", probe.toString()).assertUserError("no such checkpoint folder");
    }

    @Test
    void badBatchSize() {
        probeFails("--probe", probe.toString(), "--batch-size", "0").assertUsageError("--batch-size must be >= 1");
    }

    @Test
    void unwritableOutputIsACleanErrorNamingTheFolder() throws IOException {
        Path blocker = Files.writeString(tmp.resolve("blocker"), "a file, not a folder");
        Path out = blocker.resolve("probe-out");
        adept("probe", "--model", model.toString(), "--probe", probe.toString(), "--out", out.toString()).assertUserError("cannot write " + out + ": ");
    }

    @Test
    void writeOutputsRemovesWhatItWroteWhenAFileFails() {
        Path dir = tmp.resolve("partial");
        // a.json is written first; b/c.png cannot be (no folder b)
        Map<String, byte[]> files = Map.of("a.json", new byte[] {1}, "b/c.png", new byte[] {2});
        UncheckedIOException e = assertThrows(UncheckedIOException.class, () -> ProbeCommand.writeOutputs(dir, files));
        assertTrue(e.getMessage().startsWith("cannot write " + dir.resolve("b/c.png") + ": "), e.getMessage());
        assertFalse(Files.exists(dir), "the folder it created is removed");
    }
}
