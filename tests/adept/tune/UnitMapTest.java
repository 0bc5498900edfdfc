package adept.tune;

import static org.junit.jupiter.api.Assertions.*;

import adept.nn.Architecture;
import adept.nn.ModelConfig;
import adept.testing.TinyModel;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Unit maps of the tiny configs (hidden 32, intermediate 48, 4 query heads, 2 key/value heads of 8, i.e. GQA
 * groups of 2): Qwen2 (q/k/v biases, no o bias), Qwen3 (q_norm / k_norm), and Llama with attention and MLP
 * biases (o / down biases stay tensor units, gate / up biases follow their neuron). Layers 1 and 3 plus the
 * embeddings and the final norm are trainable.
 */
class UnitMapTest {
    static final int HEADS = 4, KV_HEADS = 2, HEAD_DIM = 8, NEURONS = 48;

    static ModelConfig qwen2() {
        return TinyModel.config(Architecture.QWEN2);
    }

    static ModelConfig qwen3() {
        return TinyModel.config(Architecture.QWEN3);
    }

    static ModelConfig llamaWithBiases() {
        return ModelConfig.builder(Architecture.LLAMA).vocabSize(TinyModel.VOCAB).hiddenSize(32).intermediateSize(48)
                .numHiddenLayers(TinyModel.LAYERS).numAttentionHeads(4).numKeyValueHeads(2).headDim(8)
                .maxPositionEmbeddings(TinyModel.MAX_POSITIONS).attentionBias(true).mlpBias(true).build();
    }

    /** Every tensor of layers 1 and 3, then the embeddings and the final norm (outside the layers). */
    static List<String> trainable(ModelConfig config) {
        List<String> names = new ArrayList<>();
        for (int layer : new int[] {1, 3}) {
            for (String n : config.layerShapes().keySet()) names.add(ModelConfig.layerPrefix(layer) + n);
        }
        names.add("model.embed_tokens.weight");
        names.add("model.norm.weight");
        return names;
    }

    static long numel(long[] shape) {
        long n = 1;
        for (long d : shape) n *= d;
        return n;
    }

    /** Independent of checkCoverage: counts, per element, the units that own it, from the slices. */
    static void assertExactCover(ModelConfig config, UnitMap map, List<String> trainable) {
        map.checkCoverage();
        Map<String, long[]> shapes = config.tensorShapes();
        assertEquals(new java.util.HashSet<>(trainable), map.shapes().keySet(), "the map slices exactly the trainable tensors");
        Map<String, int[]> counts = new HashMap<>();
        for (String n : trainable) counts.put(n, new int[(int) numel(shapes.get(n))]);
        long owned = 0;
        for (Unit u : map.units()) {
            owned += map.elements(u);
            for (Unit.Slice s : u.slices()) {
                long[] shape = shapes.get(s.tensor());
                int[] c = counts.get(s.tensor());
                assertNotNull(c, u.name() + " slices a tensor that is not trainable: " + s.tensor());
                long rows = shape[0];
                long cols = shape.length > 1 ? shape[1] : 1;
                assertTrue(s.dim() < shape.length, u.name() + ": dim " + s.dim() + " of a " + shape.length + "-d tensor");
                assertTrue(s.start() >= 0 && s.length() > 0 && s.start() + s.length() <= shape[s.dim()], u.name() + " slice out of range");
                for (long r = 0; r < rows; r++) {
                    for (long col = 0; col < cols; col++) {
                        long along = s.dim() == 0 ? r : col;
                        if (along >= s.start() && along < s.start() + s.length()) c[(int) (r * cols + col)]++;
                    }
                }
            }
        }
        long total = 0;
        for (var e : counts.entrySet()) {
            total += e.getValue().length;
            for (int i = 0; i < e.getValue().length; i++) assertEquals(1, e.getValue()[i], e.getKey() + " element " + i + " owned by the wrong number of units");
        }
        assertEquals(total, owned, "elements owned by the units add up to the trainable elements");
    }

    static Map<String, Unit> byName(UnitMap map) {
        Map<String, Unit> m = new HashMap<>();
        for (Unit u : map.units()) assertNull(m.put(u.name(), u), "duplicate unit name " + u.name());
        return m;
    }

    static void assertSlices(Unit unit, Unit.Slice... expected) {
        assertEquals(List.of(expected), unit.slices(), unit.name());
    }

    static void assertIndexing(UnitMap map) {
        int previousLayer = Integer.MIN_VALUE;
        int expectedIndex = 0;
        for (Unit u : map.units()) {
            if (u.layer() != previousLayer) expectedIndex = 0;
            previousLayer = u.layer();
            assertEquals(expectedIndex++, u.indexInLayer(), u.name());
            for (Unit.Slice s : u.slices()) assertEquals(u.layer(), UnitMap.layerOf(s.tensor()), u.name() + " slices another layer's tensor");
        }
    }

    @Test
    void everyGranularityCoversEveryElementExactlyOnce() {
        for (ModelConfig config : List.of(qwen2(), qwen3(), llamaWithBiases())) {
            for (Granularity g : Granularity.values()) {
                UnitMap map = UnitMap.build(config, trainable(config), g);
                assertEquals(g, map.granularity());
                assertExactCover(config, map, trainable(config));
                assertIndexing(map);
                assertEquals(List.of(-1, 1, 3), map.layers());
            }
        }
    }

    @Test
    void unitCountsAreAsCountedByHand() {
        // per layer: tensor units; HEAD: 4 query heads + 2 kv heads + gate, up, down + the rest;
        // NEURON: 4 + 2 + 48 neurons + the rest. Plus 2 tensor units outside the layers (embeddings, final norm).
        // Qwen2: 12 tensors (q, k, v with biases; o; gate, up, down; 2 norms), rest = 2 norms.
        assertEquals(2 * 12 + 2, UnitMap.build(qwen2(), trainable(qwen2()), Granularity.TENSOR).size());
        assertEquals(2 * (HEADS + KV_HEADS + 3 + 2) + 2, UnitMap.build(qwen2(), trainable(qwen2()), Granularity.HEAD).size());
        assertEquals(2 * (HEADS + KV_HEADS + NEURONS + 2) + 2, UnitMap.build(qwen2(), trainable(qwen2()), Granularity.NEURON).size());
        // Qwen3: 11 tensors (q, k, v, o, q_norm, k_norm, gate, up, down, 2 norms), rest = q_norm, k_norm, 2 norms.
        assertEquals(2 * 11 + 2, UnitMap.build(qwen3(), trainable(qwen3()), Granularity.TENSOR).size());
        assertEquals(2 * (HEADS + KV_HEADS + 3 + 4) + 2, UnitMap.build(qwen3(), trainable(qwen3()), Granularity.HEAD).size());
        assertEquals(2 * (HEADS + KV_HEADS + NEURONS + 4) + 2, UnitMap.build(qwen3(), trainable(qwen3()), Granularity.NEURON).size());
        // Llama with all biases: 16 tensors (q, k, v, o, gate, up, down with biases; 2 norms); NEURON rest = o bias, down bias, 2 norms.
        assertEquals(2 * 16 + 2, UnitMap.build(llamaWithBiases(), trainable(llamaWithBiases()), Granularity.TENSOR).size());
        assertEquals(2 * (HEADS + KV_HEADS + 7 + 2) + 2, UnitMap.build(llamaWithBiases(), trainable(llamaWithBiases()), Granularity.HEAD).size());
        assertEquals(2 * (HEADS + KV_HEADS + NEURONS + 4) + 2,
                UnitMap.build(llamaWithBiases(), trainable(llamaWithBiases()), Granularity.NEURON).size());
    }

    @Test
    void headsOwnTheirRowsAndColumnsWithBiases() {
        for (Granularity g : List.of(Granularity.HEAD, Granularity.NEURON)) {
            Map<String, Unit> units = byName(UnitMap.build(qwen2(), trainable(qwen2()), g));
            for (int layer : new int[] {1, 3}) {
                String p = ModelConfig.layerPrefix(layer) + "self_attn.";
                for (int h = 0; h < HEADS; h++) {
                    long at = (long) h * HEAD_DIM;
                    Unit u = units.get(p + "head." + h);
                    assertNotNull(u, "query head " + h);
                    assertEquals(layer, u.layer());
                    assertSlices(u, new Unit.Slice(p + "q_proj.weight", 0, at, HEAD_DIM), new Unit.Slice(p + "q_proj.bias", 0, at, HEAD_DIM),
                            new Unit.Slice(p + "o_proj.weight", 1, at, HEAD_DIM));
                }
                assertNull(units.get(p + "head." + HEADS));
                for (int h = 0; h < KV_HEADS; h++) {
                    long at = (long) h * HEAD_DIM;
                    Unit u = units.get(p + "kv_head." + h);
                    assertNotNull(u, "kv head " + h);
                    assertSlices(u, new Unit.Slice(p + "k_proj.weight", 0, at, HEAD_DIM), new Unit.Slice(p + "k_proj.bias", 0, at, HEAD_DIM),
                            new Unit.Slice(p + "v_proj.weight", 0, at, HEAD_DIM), new Unit.Slice(p + "v_proj.bias", 0, at, HEAD_DIM));
                }
                assertNull(units.get(p + "kv_head." + KV_HEADS), "GQA: one unit per key/value head, not per query head");
                // HEAD leaves the MLP as tensor units; NEURON cuts it
                String mlp = ModelConfig.layerPrefix(layer) + "mlp.";
                assertEquals(g == Granularity.HEAD, units.containsKey(mlp + "down_proj.weight"));
                for (String norm : List.of("input_layernorm.weight", "post_attention_layernorm.weight")) {
                    String n = ModelConfig.layerPrefix(layer) + norm;
                    assertSlices(units.get(n), new Unit.Slice(n, 0, 0, 32));
                }
            }
        }
    }

    @Test
    void neuronsOwnTheirRowOfGateAndUpAndColumnOfDown() {
        Map<String, Unit> units = byName(UnitMap.build(qwen3(), trainable(qwen3()), Granularity.NEURON));
        for (int layer : new int[] {1, 3}) {
            String mlp = ModelConfig.layerPrefix(layer) + "mlp.";
            for (int j = 0; j < NEURONS; j++) {
                assertSlices(units.get(mlp + "neuron." + j), new Unit.Slice(mlp + "gate_proj.weight", 0, j, 1),
                        new Unit.Slice(mlp + "up_proj.weight", 0, j, 1), new Unit.Slice(mlp + "down_proj.weight", 1, j, 1));
            }
            assertNull(units.get(mlp + "neuron." + NEURONS));
            for (String t : List.of("gate_proj.weight", "up_proj.weight", "down_proj.weight")) assertFalse(units.containsKey(mlp + t));
            String attn = ModelConfig.layerPrefix(layer) + "self_attn.";
            for (String norm : List.of("q_norm.weight", "k_norm.weight")) {
                assertSlices(units.get(attn + norm), new Unit.Slice(attn + norm, 0, 0, HEAD_DIM));  // q_norm / k_norm: tensor units
            }
            Unit head = units.get(attn + "head.2");
            assertEquals(2L * HEAD_DIM * 32, UnitMap.build(qwen3(), trainable(qwen3()), Granularity.NEURON).elements(head));
        }
        // Llama with MLP biases: gate / up biases follow the neuron, the down bias is a tensor unit
        UnitMap llama = UnitMap.build(llamaWithBiases(), trainable(llamaWithBiases()), Granularity.NEURON);
        Map<String, Unit> lu = byName(llama);
        String mlp = ModelConfig.layerPrefix(3) + "mlp.";
        assertSlices(lu.get(mlp + "neuron.7"), new Unit.Slice(mlp + "gate_proj.weight", 0, 7, 1), new Unit.Slice(mlp + "gate_proj.bias", 0, 7, 1),
                new Unit.Slice(mlp + "up_proj.weight", 0, 7, 1), new Unit.Slice(mlp + "up_proj.bias", 0, 7, 1),
                new Unit.Slice(mlp + "down_proj.weight", 1, 7, 1));
        assertEquals(32 + 1 + 32 + 1 + 32, llama.elements(lu.get(mlp + "neuron.7")));
        assertSlices(lu.get(mlp + "down_proj.bias"), new Unit.Slice(mlp + "down_proj.bias", 0, 0, 32));
        String attn = ModelConfig.layerPrefix(3) + "self_attn.";
        assertSlices(lu.get(attn + "o_proj.bias"), new Unit.Slice(attn + "o_proj.bias", 0, 0, 32));
    }

    @Test
    void tensorsOutsideTheLayersAreTensorUnits() {
        for (Granularity g : Granularity.values()) {
            UnitMap map = UnitMap.build(qwen2(), trainable(qwen2()), g);
            Map<String, Unit> units = byName(map);
            Unit embed = units.get("model.embed_tokens.weight");
            assertEquals(-1, embed.layer());
            assertSlices(embed, new Unit.Slice("model.embed_tokens.weight", 0, 0, TinyModel.VOCAB));
            assertEquals((long) TinyModel.VOCAB * 32, map.elements(embed));
            assertSlices(units.get("model.norm.weight"), new Unit.Slice("model.norm.weight", 0, 0, 32));
        }
    }

    @Test
    void aHeadWhosePartnerIsFrozenFallsBackToTensorUnits() {
        // o_proj and down_proj frozen: q rows cannot form heads (no o columns), gate/up no neurons
        ModelConfig config = qwen2();
        List<String> names = new ArrayList<>(trainable(config));
        names.remove(ModelConfig.layerPrefix(1) + "self_attn.o_proj.weight");
        names.remove(ModelConfig.layerPrefix(1) + "mlp.down_proj.weight");
        UnitMap map = UnitMap.build(config, names, Granularity.NEURON);
        assertExactCover(config, map, names);
        Map<String, Unit> units = byName(map);
        String p = ModelConfig.layerPrefix(1);
        assertFalse(units.containsKey(p + "self_attn.head.0"));
        assertTrue(units.containsKey(p + "self_attn.q_proj.weight") && units.containsKey(p + "self_attn.q_proj.bias"));
        assertTrue(units.containsKey(p + "self_attn.kv_head.1"));
        assertFalse(units.containsKey(p + "mlp.neuron.0"));
        assertTrue(units.containsKey(p + "mlp.gate_proj.weight") && units.containsKey(p + "mlp.up_proj.weight"));
        // layer 1: q, q bias, 2 kv heads, gate, up, 2 norms; layer 3 full; 2 outside
        assertEquals(8 + (HEADS + KV_HEADS + NEURONS + 2) + 2, map.size());
    }

    @Test
    void unknownTensorIsRejected() {
        assertThrows(IllegalArgumentException.class, () -> UnitMap.build(qwen3(), List.of("model.layers.9.mlp.up_proj.weight"), Granularity.TENSOR));
        assertThrows(IllegalArgumentException.class, () -> UnitMap.build(qwen3(), List.of("model.layers.1.self_attn.q_proj.bias"), Granularity.HEAD));
    }
}
