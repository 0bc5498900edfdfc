package adept.tune;

import adept.nn.Family;
import adept.nn.ModelConfig;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The units of the trainable layers, in order (layers ascending, then the layer's units): what the
 * importance, the rates, the masks, the plots and the checkpoint all refer to. A plain, inspectable object.
 *
 * @param granularity how tensors were cut
 * @param units       every unit
 * @param shapes      shape of every tensor the units slice, by Hugging Face name
 */
public record UnitMap(Granularity granularity, List<Unit> units, Map<String, long[]> shapes) {
    public UnitMap {
        units = List.copyOf(units);
        shapes = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(shapes));
    }

    /**
     * Units of the given trainable tensors (Hugging Face names, the projections' from {@link Family}). Tensors of decoder layers are cut by
     * granularity; any other tensor (embeddings, final norm, lm_head in full training) is a tensor unit.
     */
    public static UnitMap build(ModelConfig config, List<String> trainable, Granularity granularity) {
        return build(config, trainable, granularity, Map.of());
    }

    /** As above; tensors outside the config's (LoRA adapters) take their shapes from extraShapes and are tensor units. */
    public static UnitMap build(ModelConfig config, List<String> trainable, Granularity granularity, Map<String, long[]> extraShapes) {
        Map<String, long[]> allShapes = new LinkedHashMap<>(config.tensorShapes());
        allShapes.putAll(extraShapes);
        Map<String, long[]> shapes = new LinkedHashMap<>();
        for (String name : trainable) {
            long[] shape = allShapes.get(name);
            if (shape == null) throw new IllegalArgumentException("no tensor " + name + " in the model");
            shapes.put(name, shape);
        }
        // trainable tensors grouped by layer (-1: outside the decoder layers), in order of first appearance
        Map<Integer, List<String>> byLayer = new LinkedHashMap<>();
        for (String name : trainable) byLayer.computeIfAbsent(layerOf(name), k -> new ArrayList<>()).add(name);
        List<Unit> units = new ArrayList<>();
        for (var e : byLayer.entrySet()) {
            int layer = e.getKey();
            List<String> names = e.getValue();
            int before = units.size();
            if (layer < 0 || granularity == Granularity.TENSOR) {
                for (String n : names) units.add(tensorUnit(n, layer, units.size() - before, shapes));
            } else {
                cutLayer(config, layer, names, granularity, shapes, units);
            }
        }
        return new UnitMap(granularity, units, shapes);
    }

    private static Unit tensorUnit(String name, int layer, int index, Map<String, long[]> shapes) {
        return new Unit(name, layer, index, List.of(new Unit.Slice(name, 0, 0, shapes.get(name)[0])));
    }

    private static void cutLayer(ModelConfig config, int layer, List<String> names, Granularity granularity,
                                 Map<String, long[]> shapes, List<Unit> units) {
        String prefix = ModelConfig.layerPrefix(layer);
        java.util.Set<String> present = new java.util.HashSet<>(names);
        java.util.Set<String> claimed = new java.util.HashSet<>();
        int start = units.size();
        int headDim = config.headDim();
        // query heads: rows of q_proj (+ bias), columns of o_proj
        String q = prefix + Family.Q + ".weight";
        String o = prefix + Family.O + ".weight";
        if (present.contains(q) && present.contains(o)) {
            for (int h = 0; h < config.numAttentionHeads(); h++) {
                List<Unit.Slice> s = new ArrayList<>();
                s.add(new Unit.Slice(q, 0, (long) h * headDim, headDim));
                addIfPresent(s, present, prefix + Family.Q + ".bias", 0, (long) h * headDim, headDim);
                s.add(new Unit.Slice(o, 1, (long) h * headDim, headDim));
                units.add(new Unit(prefix + "self_attn.head." + h, layer, units.size() - start, s));
            }
            claimed.add(q);
            claimed.add(o);
            claimed.add(prefix + Family.Q + ".bias");
        }
        // key/value heads: rows of k_proj and v_proj (+ biases), shared by the GQA group
        String k = prefix + Family.K + ".weight";
        String v = prefix + Family.V + ".weight";
        if (present.contains(k) && present.contains(v)) {
            for (int h = 0; h < config.numKeyValueHeads(); h++) {
                List<Unit.Slice> s = new ArrayList<>();
                s.add(new Unit.Slice(k, 0, (long) h * headDim, headDim));
                addIfPresent(s, present, prefix + Family.K + ".bias", 0, (long) h * headDim, headDim);
                s.add(new Unit.Slice(v, 0, (long) h * headDim, headDim));
                addIfPresent(s, present, prefix + Family.V + ".bias", 0, (long) h * headDim, headDim);
                units.add(new Unit(prefix + "self_attn.kv_head." + h, layer, units.size() - start, s));
            }
            for (String n : List.of(k, v, prefix + Family.K + ".bias", prefix + Family.V + ".bias")) claimed.add(n);
        }
        String gate = prefix + Family.GATE + ".weight";
        String up = prefix + Family.UP + ".weight";
        String down = prefix + Family.DOWN + ".weight";
        if (granularity == Granularity.NEURON && present.contains(gate) && present.contains(up) && present.contains(down)) {
            for (int j = 0; j < config.intermediateSize(); j++) {
                List<Unit.Slice> s = new ArrayList<>();
                s.add(new Unit.Slice(gate, 0, j, 1));
                addIfPresent(s, present, prefix + Family.GATE + ".bias", 0, j, 1);
                s.add(new Unit.Slice(up, 0, j, 1));
                addIfPresent(s, present, prefix + Family.UP + ".bias", 0, j, 1);
                s.add(new Unit.Slice(down, 1, j, 1));
                units.add(new Unit(prefix + "mlp.neuron." + j, layer, units.size() - start, s));
            }
            for (String n : List.of(gate, up, down, prefix + Family.GATE + ".bias", prefix + Family.UP + ".bias")) claimed.add(n);
        }
        // whatever is left (norms, q_norm / k_norm, o / down biases, or tensors whose partner is frozen)
        for (String n : names) if (!claimed.contains(n)) units.add(tensorUnit(n, layer, units.size() - start, shapes));
    }

    private static void addIfPresent(List<Unit.Slice> slices, java.util.Set<String> present, String name, int dim, long start, long length) {
        if (present.contains(name)) slices.add(new Unit.Slice(name, dim, start, length));
    }

    /** The decoder layer of a tensor name ("model.layers.7.mlp..." -> 7), -1 for other tensors. */
    public static int layerOf(String name) {
        String p = "model.layers.";
        if (!name.startsWith(p)) return -1;
        int end = name.indexOf('.', p.length());
        return Integer.parseInt(name.substring(p.length(), end));
    }

    /** The number of units. */
    public int size() {
        return units.size();
    }

    /** Elements a unit owns. */
    public long elements(Unit unit) {
        long n = 0;
        for (Unit.Slice s : unit.slices()) {
            long[] shape = shapes.get(s.tensor());
            long other = 1;
            for (int d = 0; d < shape.length; d++) if (d != s.dim()) other *= shape[d];
            n += s.length() * other;
        }
        return n;
    }

    /** True when every slice of the unit lies in a 1-d tensor (a norm vector or a bias): the kind rate_norm per-kind maps apart. */
    public boolean isVector(Unit unit) {
        for (Unit.Slice s : unit.slices()) if (shapes.get(s.tensor()).length != 1) return false;
        return true;
    }

    /** The layers that own units, ascending (-1 first when tensors outside the layers are trainable). */
    public List<Integer> layers() {
        return units.stream().map(Unit::layer).distinct().sorted().toList();
    }

    /** Checks that the units cover every element of every tensor exactly once (a unit map's invariant). */
    public void checkCoverage() {
        for (var e : shapes.entrySet()) {
            long[] shape = e.getValue();
            long rows = shape[0];
            long cols = shape.length > 1 ? shape[1] : 1;
            int[][] count = new int[(int) rows][(int) cols];
            for (Unit u : units) {
                for (Unit.Slice s : u.slices()) {
                    if (!s.tensor().equals(e.getKey())) continue;
                    for (long i = s.start(); i < s.start() + s.length(); i++) {
                        for (long j = 0; j < (s.dim() == 0 ? cols : rows); j++) {
                            if (s.dim() == 0) count[(int) i][(int) j]++;
                            else count[(int) j][(int) i]++;
                        }
                    }
                }
            }
            for (int[] row : count) for (int c : row) {
                if (c != 1) throw new IllegalStateException("unit map covers an element of " + e.getKey() + " " + c + " times");
            }
        }
    }
}
