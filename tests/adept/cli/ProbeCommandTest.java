package adept.cli;

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
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
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
        TinyModel.write(model);
        probe = shared.resolve("probe.jsonl");
        TinyModel.writeProbe(probe);
    }

    @Test
    void writesReportAndPlotMatchingTheReferenceProbe() throws IOException {
        Path out = tmp.resolve("probe-out");
        TinyModel.Result r = TinyModel.run("probe", "--model", model.toString(), "--probe", probe.toString(), "--out", out.toString(),
                "--batch-size", "3", "--highlight", "2");
        assertEquals(0, r.exitCode(), r.err());
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
        TinyModel.Result r = TinyModel.run("probe", "--model", model.toString(), "--probe", probe.toString(), "--out", out.toString(),
                "--token-budget", "10");
        assertEquals(0, r.exitCode(), r.err());
        ProbeReport report = ProbeReport.read(out.resolve("importance.json"));
        assertEquals(2, report.examples());  // 6 + 10 targets: stops after the second item
        assertEquals(10, report.tokenBudget());
    }

    private void assertFails(String expected, String... args) {
        Path out = tmp.resolve("never");
        List<String> all = new ArrayList<>(List.of("probe", "--model", model.toString(), "--out", out.toString()));
        all.addAll(List.of(args));
        TinyModel.Result r = TinyModel.run(all.toArray(String[]::new));
        assertNotEquals(0, r.exitCode());
        assertTrue(r.err().contains(expected), "expected '" + expected + "' in: " + r.err());
        assertFalse(r.err().contains("\tat "), "stack trace printed: " + r.err());
        assertFalse(Files.exists(out), "output folder left behind");
    }

    @Test
    void emptyProbeFile() throws IOException {
        Path empty = tmp.resolve("empty.jsonl");
        Files.writeString(empty, "\n\n");
        assertFails("the corpus is empty", "--probe", empty.toString());
    }

    @Test
    void malformedLineIsReportedWithItsNumber() throws IOException {
        Path bad = tmp.resolve("bad.jsonl");
        Files.writeString(bad, "{\"text\": \"the cat\"}\n{\"text\": \"the dog\"}\n{\"text\": oops}\n", StandardCharsets.UTF_8);
        assertFails(bad + ":3: malformed JSON", "--probe", bad.toString());
    }

    @Test
    void itemLongerThanTheContext() throws IOException {
        assertFails(probe + ":2: item has 13 tokens, more than the context length 8", "--probe", probe.toString(), "--max-length", "8");
    }

    @Test
    void maxLengthBeyondThePositions() {
        assertFails("exceeds the model's max_position_embeddings 64", "--probe", probe.toString(), "--max-length", "65");
    }

    @Test
    void missingProbeFileAndModel() {
        assertFails("no such file", "--probe", tmp.resolve("nope.jsonl").toString());
        TinyModel.Result r = TinyModel.run("probe", "--model", tmp.resolve("nomodel").toString(), "--probe", probe.toString());
        assertNotEquals(0, r.exitCode());
        assertTrue(r.err().contains("no such checkpoint folder"), r.err());
    }

    @Test
    void badBatchSize() {
        assertFails("--batch-size must be >= 1", "--probe", probe.toString(), "--batch-size", "0");
    }
}
