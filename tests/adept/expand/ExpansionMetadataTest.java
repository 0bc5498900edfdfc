package adept.expand;

import static org.junit.jupiter.api.Assertions.*;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ExpansionMetadataTest {
    static ExpansionMetadata sample() {
        ExpansionPlan plan = new ExpansionPlan(6, List.of(4, 1), "lowest-dL", "the 2 layers whose removal raises the general loss least");
        return ExpansionMetadata.of(plan, List.of("model.layers.2.mlp.up_proj.weight", "model.layers.6.mlp.up_proj.weight"),
                new double[] {0.5, -0.01, 0.3, 0.2, 0.001, 0.9}, "/p/importance.json", "/m", "dev");
    }

    @Test
    void roundTripsThroughCompactAndPrettyJson() {
        ExpansionMetadata m = sample();
        assertEquals(List.of(1, 4), m.sources());
        assertEquals(List.of(2, 6), m.copyIndices());
        assertArrayEquals(new int[] {0, 1, 1, 2, 3, 4, 4, 5}, m.sourceOfEachLayer());
        assertEquals(8, m.expandedLayers());
        assertFalse(m.toJson().contains("\n"));
        assertEquals(m, ExpansionMetadata.parse(m.toJson(), "compact"));
        assertEquals(m, ExpansionMetadata.parse(m.toPrettyJson(), "pretty"));
        assertEquals(m, ExpansionMetadata.from(Map.of(ExpansionMetadata.METADATA_KEY, m.toJson()), "x").orElseThrow());
        assertTrue(ExpansionMetadata.from(Map.of("format", "pt"), "x").isEmpty());
    }

    @Test
    void withoutScores() {
        ExpansionMetadata m = ExpansionMetadata.of(LayerExpansion.uniform(8, 2), List.of(), null, null, "/m", "dev");
        ExpansionMetadata back = ExpansionMetadata.parse(m.toJson(), "x");
        assertNull(back.scores());
        assertEquals(List.of(3, 7), back.sources());
        assertEquals("llama-pro", back.method());
    }

    @Test
    void rejectsGarbledOrInconsistentMetadata() {
        assertThrows(ExpansionException.class, () -> ExpansionMetadata.parse("{", "x"));
        assertThrows(ExpansionException.class, () -> ExpansionMetadata.parse("[1]", "x"));
        assertThrows(ExpansionException.class, () -> ExpansionMetadata.parse("{\"format\": \"adept.expansion/1\"}", "x"));
        String json = sample().toJson().replace("\"copy_indices\":[2,6]", "\"copy_indices\":[2,5]");
        ExpansionException e = assertThrows(ExpansionException.class, () -> ExpansionMetadata.parse(json, "ckpt"));
        assertTrue(e.getMessage().startsWith("ckpt: "), e.getMessage());
    }
}
