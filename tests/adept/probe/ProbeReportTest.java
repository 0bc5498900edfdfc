package adept.probe;

import static org.junit.jupiter.api.Assertions.*;

import adept.io.data.DataException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ProbeReportTest {
    @TempDir
    Path tmp;

    static ProbeReport sample() {
        LayerImportance imp = new LayerImportance(2.5, new double[] {3.0, 2.49, 2.7, 2.5, 4.0}, 1234);
        return new ProbeReport("dev", "2026-01-01T00:00:00Z", "/models/q", "q", "Qwen3ForCausalLM", "float32", "cpu", "/data/p.jsonl", 10, 10, 4,
                3, 512, 0, imp, 2, Map.of("probe", 1.5, "total", 2.0));
    }

    @Test
    void roundTrips() throws IOException {
        ProbeReport r = sample();
        assertEquals(List.of(1, 3), r.lowest());
        Path file = tmp.resolve("importance.json");
        r.write(file);
        ProbeReport back = ProbeReport.read(file);
        assertEquals(r.importance().baseLoss(), back.importance().baseLoss());
        assertArrayEquals(r.importance().skipLoss(), back.importance().skipLoss());
        assertEquals(1234, back.importance().targetTokens());
        assertEquals(List.of(1, 3), back.lowest());
        assertEquals(r.modelPath(), back.modelPath());
        assertEquals(r.corpusPath(), back.corpusPath());
        assertEquals(r.timings(), back.timings());
        assertEquals(r.toJson(), back.toJson());
        try (var files = Files.list(tmp)) {
            assertEquals(1, files.count());  // no temporary file left
        }
        String json = r.toJson();
        assertTrue(json.contains("\"delta\""));
        assertTrue(json.contains("\"normalized\""));
    }

    @Test
    void rejectsBadFiles() throws IOException {
        Path file = tmp.resolve("x.json");
        assertMessage("no such importance file", () -> ProbeReport.read(file));
        assertMessage("malformed JSON", () -> ProbeReport.parse("{\"a\": ", "f"));
        assertMessage("field \"format\" is missing", () -> ProbeReport.parse("{}", "f"));
        String good = sample().toJson();
        assertMessage("has 5 entries but model.num_hidden_layers is 6",
                () -> ProbeReport.parse(good.replace("\"num_hidden_layers\": 5", "\"num_hidden_layers\": 6"), "f"));
        assertMessage("field \"base_loss\" must be a number", () -> ProbeReport.parse(good.replace("\"base_loss\": 2.5", "\"base_loss\": \"x\""), "f"));
        assertMessage("disagrees with skip_loss - base_loss", () -> ProbeReport.parse(good.replace("\"base_loss\": 2.5", "\"base_loss\": 2.4"), "f"));
    }

    private static void assertMessage(String expected, org.junit.jupiter.api.function.Executable body) {
        DataException e = assertThrows(DataException.class, body);
        assertTrue(e.getMessage().contains(expected), e.getMessage());
    }
}
