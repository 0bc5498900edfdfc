package adept.report;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import adept.train.RunFolder;
import com.google.gson.JsonObject;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** importance.png and rates.png from importance.jsonl lines: unit labels, columns, the mean multiplier. */
class TrainPlotsTest {
    @TempDir
    Path dir;

    /** One importance.jsonl line; elements null: a log written before element counts were added. */
    static JsonObject line(long step, String unit, int layer, int index, double importance, double multiplier, boolean frozen, Long elements) {
        JsonObject o = new JsonObject();
        o.addProperty("step", step);
        o.addProperty("unit", unit);
        o.addProperty("layer", layer);
        o.addProperty("index", index);
        o.addProperty("importance", importance);
        o.addProperty("multiplier", multiplier);
        o.addProperty("frozen", frozen);
        if (elements != null) o.addProperty("elements", elements);
        return o;
    }

    @Test
    void unitNamesBecomeShortLabels() {
        String p = "model.layers.5.";
        assertEquals("q", UnitLabel.of(p + "self_attn.q_proj.weight"));
        assertEquals("k", UnitLabel.of(p + "self_attn.k_proj.weight"));
        assertEquals("v", UnitLabel.of(p + "self_attn.v_proj.weight"));
        assertEquals("o", UnitLabel.of(p + "self_attn.o_proj.weight"));
        assertEquals("gate", UnitLabel.of(p + "mlp.gate_proj.weight"));
        assertEquals("up", UnitLabel.of(p + "mlp.up_proj.weight"));
        assertEquals("down", UnitLabel.of(p + "mlp.down_proj.weight"));
        assertEquals("input_norm", UnitLabel.of(p + "input_layernorm.weight"));
        assertEquals("post_norm", UnitLabel.of(p + "post_attention_layernorm.weight"));
        assertEquals("q_norm", UnitLabel.of(p + "self_attn.q_norm.weight"));
        assertEquals("k_norm", UnitLabel.of(p + "self_attn.k_norm.weight"));
        assertEquals("q_bias", UnitLabel.of(p + "self_attn.q_proj.bias"));
        assertEquals("v_bias", UnitLabel.of(p + "self_attn.v_proj.bias"));
        assertEquals("down_bias", UnitLabel.of(p + "mlp.down_proj.bias"));
        assertEquals("h3", UnitLabel.of("model.layers.12.self_attn.head.3"));
        assertEquals("kv1", UnitLabel.of("model.layers.12.self_attn.kv_head.1"));
        assertEquals("n17", UnitLabel.of("model.layers.0.mlp.neuron.17"));
        assertEquals("embed", UnitLabel.of("model.embed_tokens.weight"));
        assertEquals("final_norm", UnitLabel.of("model.norm.weight"));
        assertEquals("lm_head", UnitLabel.of("lm_head.weight"));
    }

    @Test
    void weightedMeanMultiplierByHand() {
        // 10 elements at x2 and 30 at x0.5: (20 + 15) / 40
        TrainPlots.MeanMultiplier m = TrainPlots.meanMultiplier(7, List.of(
                line(7, "a", 0, 0, 1, 2, false, 10L), line(7, "b", 0, 1, 1, 0.5, false, 30L)));
        assertEquals(0.875, m.value(), 1e-12);
        assertTrue(m.weighted());
        assertEquals(7, m.step());
        // a frozen unit of 20 elements counts 0 whatever its multiplier: 35 / 60
        m = TrainPlots.meanMultiplier(7, List.of(line(7, "a", 0, 0, 1, 2, false, 10L), line(7, "b", 0, 1, 1, 0.5, false, 30L),
                line(7, "c", 0, 2, 1, 3, true, 20L)));
        assertEquals(35.0 / 60, m.value(), 1e-12);
        // an old log without element counts: every unit weighs 1, and says so
        m = TrainPlots.meanMultiplier(7, List.of(line(7, "a", 0, 0, 1, 2, false, null), line(7, "b", 0, 1, 1, 0.5, false, null),
                line(7, "c", 0, 2, 1, 3, true, null)));
        assertEquals(2.5 / 3, m.value(), 1e-12);
        assertFalse(m.weighted());
        // one line without a count makes the whole refresh unweighted rather than silently skewed
        m = TrainPlots.meanMultiplier(7, List.of(line(7, "a", 0, 0, 1, 2, false, 10L), line(7, "b", 0, 1, 1, 0.5, false, null)));
        assertEquals(1.25, m.value(), 1e-12);
        assertFalse(m.weighted());
    }

    @Test
    void meanSeriesNameTheWeighting() {
        List<JsonObject> lines = new ArrayList<>();
        // steps 0 and 10 from an old log (no elements), step 20 with them
        for (long step : new long[] {0, 10, 20}) {
            Long e10 = step == 20 ? 10L : null;
            Long e30 = step == 20 ? 30L : null;
            lines.add(line(step, "a", 0, 0, 1, 2, false, e10));
            lines.add(line(step, "b", 0, 1, 1, 0.5, false, e30));
        }
        List<LineChart.Series> series = TrainPlots.meanMultiplierSeries(lines);
        assertEquals(List.of(TrainPlots.WEIGHTED, TrainPlots.UNWEIGHTED), series.stream().map(LineChart.Series::name).toList());
        assertArrayEquals(new double[] {20}, series.get(0).x());
        assertArrayEquals(new double[] {0.875}, series.get(0).y(), 1e-12);
        assertArrayEquals(new double[] {0, 10}, series.get(1).x());
        assertArrayEquals(new double[] {1.25, 1.25}, series.get(1).y(), 1e-12);
        assertTrue(TrainPlots.UNWEIGHTED.contains("unweighted"));
    }

    /** A tensor-granularity log: layers 2 and 3 with q, k, v, o, the MLP and the norms, plus embed outside them. */
    static List<JsonObject> tensorLog(int refreshes, boolean elements) {
        String[] tensors = {"self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight", "self_attn.o_proj.weight",
                "mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight", "input_layernorm.weight", "post_attention_layernorm.weight"};
        long[] sizes = {4096, 1024, 1024, 4096, 11008, 11008, 11008, 64, 64};
        List<JsonObject> lines = new ArrayList<>();
        for (int r = 0; r < refreshes; r++) {
            long step = 50L * r;
            for (int layer : new int[] {2, 3}) {
                for (int i = 0; i < tensors.length; i++) {
                    // norms about 1e3 times the matrices, as the issue saw; the first refresh after expansion is all 0
                    double importance = r == 0 ? 0 : (tensors[i].contains("norm") ? 3e-2 : 1e-5 * (i + 1)) * (layer - 1) * r;
                    double multiplier = 0.5 + 0.25 * i;
                    lines.add(line(step, "model.layers." + layer + "." + tensors[i], layer, i, importance, multiplier, i == 3 && r > 1,
                            elements ? sizes[i] : null));
                }
            }
            lines.add(line(step, "model.embed_tokens.weight", -1, 0, 1e-4, 1, false, elements ? 32000L * 64 : null));
        }
        return lines;
    }

    @Test
    void columnsAreUnitNamesWithTensorsOutsideTheLayersLast() {
        List<Heatmap.Panel> panels = TrainPlots.panels(tensorLog(3, true), "importance");
        assertEquals(3, panels.size());
        Heatmap.Panel last = panels.getLast();
        assertEquals(List.of("q", "k", "v", "o", "gate", "up", "down", "input_norm", "post_norm", "embed"), List.of(last.columnLabels()));
        assertEquals(List.of("other", "layer 2", "layer 3"), List.of(last.rowLabels()));
        assertEquals(1e-4, last.values()[0][9], 0);
        assertTrue(Double.isNaN(last.values()[0][0]), "the embedding row has no q");
        assertTrue(Double.isNaN(last.values()[1][9]), "a decoder layer has no embedding");
        assertEquals(3e-2 * 2 * 2, last.values()[2][8], 1e-12);  // layer 3's post_norm at refresh 2
        assertEquals(0, panels.getFirst().values()[1][0], 0);
        // rates: frozen o counts 0
        assertEquals(0, TrainPlots.panels(tensorLog(3, true), "multiplier").getLast().values()[1][3], 0);
    }

    @Test
    void differingLayersMergeTheirColumnsInOrder() {
        List<JsonObject> lines = new ArrayList<>();
        lines.add(line(0, "model.layers.1.self_attn.q_proj.weight", 1, 0, 1, 1, false, 1L));
        lines.add(line(0, "model.layers.1.self_attn.k_proj.weight", 1, 1, 1, 1, false, 1L));
        lines.add(line(0, "model.layers.2.self_attn.q_proj.weight", 2, 0, 1, 1, false, 1L));
        lines.add(line(0, "model.layers.2.self_attn.q_proj.bias", 2, 1, 1, 1, false, 1L));
        lines.add(line(0, "model.layers.2.self_attn.k_proj.weight", 2, 2, 1, 1, false, 1L));
        assertEquals(List.of("q", "q_bias", "k"), List.of(TrainPlots.panels(lines, "importance").getFirst().columnLabels()));
    }

    @Test
    void writesReadablePlotsForNewAndOldLogs() throws Exception {
        for (boolean elements : new boolean[] {true, false}) {
            Path run = Files.createDirectories(dir.resolve(elements ? "new" : "old"));
            String jsonl = tensorLog(4, elements).stream().map(JsonObject::toString).collect(Collectors.joining("\n", "", "\n"));
            Files.writeString(run.resolve(RunFolder.IMPORTANCE_FILE), jsonl);
            Files.writeString(run.resolve(RunFolder.METRICS_FILE), "{\"step\":1,\"loss\":3.5}\n{\"step\":2,\"loss\":3.1}\n");
            List<Path> written = TrainPlots.write(run, null);
            assertEquals(List.of("loss.png", "importance.png", "rates.png"), written.stream().map(p -> p.getFileName().toString()).toList());
            BufferedImage importance = ImageIO.read(run.resolve("importance.png").toFile());
            BufferedImage rates = ImageIO.read(run.resolve("rates.png").toFile());
            assertEquals(Heatmap.DEFAULT_WIDTH, importance.getWidth());
            assertEquals(Heatmap.DEFAULT_WIDTH, rates.getWidth());
            // rates.png: the mean chart stacked above the heatmap, which reads just as importance.png's size would
            assertEquals(TrainPlots.MEAN_CHART_HEIGHT + importance.getHeight(), rates.getHeight());
            assertTrue(count(importance, 0x8A8A8A) > 500, "the all-zero first refresh is drawn in the zero colour");
            assertTrue(count(rates, 0x777777) > 300, "the reference line at 1");
            assertTrue(count(rates, 0x4E79A7) > 100, "the mean multiplier line");
        }
        // ImageIO check of the bytes themselves: a PNG
        byte[] png = TrainPlots.ratesPng(tensorLog(2, true));
        assertTrue(ImageIO.read(new ByteArrayInputStream(png)) != null);
    }

    private static int count(BufferedImage image, int rgb) {
        int n = 0;
        for (int y = 0; y < image.getHeight(); y++) for (int x = 0; x < image.getWidth(); x++) if ((image.getRGB(x, y) & 0xFFFFFF) == rgb) n++;
        return n;
    }
}
