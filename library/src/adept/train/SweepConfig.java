package adept.train;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;
import java.io.IOException;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * A learning-rate sweep (`adept sweep --config FILE`): every combination of the grid's values (a union of grids when
 * grid is a list), for each arm, is one run of `adept run`'s pipeline, from the same base model and token budget;
 * every finished run is evaluated on a general (forgetting) and a domain (learning) held-out file. For example:
 *
 * <pre>
 * out: results/sweep-medical
 * model: runs/base/model
 * data: corpora/medical.jsonl.gz
 * probe: probe/general_probe_pt.jsonl.gz
 * steps: 200
 * grid:                  # lists of values of training keys; every combination is one run
 *   mode: [full, llama-pro, adept]
 *   lr: [2.5e-4, 5.0e-4, 1.0e-3, 2.0e-3]
 *   seed: [1, 2]
 * general: eval/general_heldout.jsonl.gz
 * domain: eval/medical_heldout.jsonl.gz
 * budgets: [0.05, 0.10, 0.20]
 * </pre>
 *
 * Optional: arms (a list of {name, KEY: VALUE...}: named combinations crossed with the grid, each its own curve),
 * evaluate ({batch_size, max_length, max_tokens}). Checked completely before any work; errors are one line naming
 * the file and key; nothing is written.
 *
 * @param file       the config file
 * @param out        the sweep folder (run NAME trains into out/NAME/)
 * @param runs       the runs: grid points in order, each point for every arm
 * @param points     for each run (same order): its curve (arm or mode) and its grid values
 * @param general    the held-out file whose loss change is the forgetting axis
 * @param domain     the held-out file whose loss change is the learning axis
 * @param budgets    general-loss budgets for the matched-forgetting comparison
 * @param evaluation how the held-out files are evaluated
 */
public record SweepConfig(Path file, Path out, List<RunConfig.Run> runs, List<GridPoint> points, Path general, Path domain,
                          List<Double> budgets, HeldOut.Settings evaluation) {
    /** A run's place in the sweep: the curve it belongs to and the grid values that made it. */
    public record GridPoint(String curve, Map<String, JsonElement> values) {
        public GridPoint {
            values = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(values));
        }
    }

    public SweepConfig {
        runs = List.copyOf(runs);
        points = List.copyOf(points);
        budgets = List.copyOf(budgets);
    }

    public static final List<Double> DEFAULT_BUDGETS = List.of(0.05, 0.10, 0.20);
    static final Set<String> SWEEP_KEYS = new LinkedHashSet<>(List.of("out", "grid", "arms", "general", "domain", "budgets", "evaluate"));
    static final Set<String> EVALUATE_KEYS = new LinkedHashSet<>(List.of("batch_size", "max_length", "max_tokens"));

    /** Sweep keys (beside every training key): key, default, description. */
    public static final List<TrainSettings.KeyDoc> REFERENCE = List.of(
            new TrainSettings.KeyDoc("out", "required", "Sweep folder: run NAME trains into out/NAME/; pareto.json, pareto.png and sweep.md go here."),
            new TrainSettings.KeyDoc("grid", "required", "Training keys with lists of values; every combination is one run. A list of such maps is their union."),
            new TrainSettings.KeyDoc("arms", "none (one curve per mode)", "List of {name: NAME, KEY: VALUE, ...}: named settings crossed with the grid, one curve each."),
            new TrainSettings.KeyDoc("general", "required", "Held-out general text: the forgetting axis (its loss change from the base)."),
            new TrainSettings.KeyDoc("domain", "required", "Held-out domain text: the learning axis (its loss change from the base)."),
            new TrainSettings.KeyDoc("budgets", "[0.05, 0.10, 0.20]", "General-loss increases at which the curves are compared (interpolated, never extrapolated)."),
            new TrainSettings.KeyDoc("evaluate.batch_size", "8", "Sequences per forward pass of the held-out evaluation."),
            new TrainSettings.KeyDoc("evaluate.max_length", "block_size or the model's context", "Tokens per sequence; longer items are split into windows."),
            new TrainSettings.KeyDoc("evaluate.max_tokens", "0 (all)", "Evaluate each file's first items up to this many tokens."));

    /** Checks a sweep config already read into a JSON tree (adept.cli.ConfigFiles reads the file); overrideOut (null: the file's) replaces out. Writes nothing. */
    public static SweepConfig parseTree(JsonObject root, Path file, String label, Path overrideOut) {
        return new Parser(label, file.toAbsolutePath().normalize()).parse(root, overrideOut);
    }

    private static final class Parser {
        final String label;
        final Path file;
        final Set<String> trainingKeys = new LinkedHashSet<>(TrainSettings.keys());

        Parser(String label, Path file) {
            this.label = label;
            this.file = file;
            trainingKeys.remove("out");
        }

        TrainException error(String where, String message) {
            return new TrainException(label + ": " + where + ": " + message);
        }

        SweepConfig parse(JsonObject root, Path overrideOut) {
            if (root.has("runs")) throw error("runs", "a sweep's runs come from grid (and arms); use adept run for a list of runs");
            for (String key : root.keySet()) {
                if (SWEEP_KEYS.contains(key) || trainingKeys.contains(key)) continue;
                Set<String> known = new LinkedHashSet<>(SWEEP_KEYS);
                known.addAll(trainingKeys);
                throw unknown(key, key, known);
            }
            Path folder = file.getParent();
            Path general = requiredFile(root, "general", folder);
            Path domain = requiredFile(root, "domain", folder);
            List<Double> budgets = budgets(root.get("budgets"));
            HeldOut.Settings evaluation = evaluation(root.get("evaluate"));
            List<Map<String, JsonElement>> arms = arms(root.get("arms"));
            List<Map<String, JsonElement>> combos = grid(root.get("grid"));
            for (Map<String, JsonElement> arm : arms) {
                for (String key : arm.keySet()) {
                    if (key.equals("name")) continue;
                    for (Map<String, JsonElement> c : combos) {
                        if (c.containsKey(key)) throw error("arms." + key, "also varied by grid: set it in one place");
                    }
                }
            }

            JsonObject config = new JsonObject();
            JsonElement outValue = overrideOut != null ? new JsonPrimitive(overrideOut.toAbsolutePath().normalize().toString()) : root.get("out");
            if (outValue == null || outValue.isJsonNull()) throw error("out", "the sweep folder is required (or --out)");
            config.add("out", outValue);
            for (var e : root.entrySet()) if (trainingKeys.contains(e.getKey())) config.add(e.getKey(), e.getValue());
            JsonArray runs = new JsonArray();
            List<GridPoint> points = new ArrayList<>();
            Map<String, String> names = new HashMap<>();
            // Grid points outermost: an interrupted sweep has every arm's curve equally far along.
            for (Map<String, JsonElement> combo : combos) {
                for (Map<String, JsonElement> arm : arms.isEmpty() ? List.<Map<String, JsonElement>>of(Map.of()) : arms) {
                    JsonObject run = new JsonObject();
                    for (var e : arm.entrySet()) if (!e.getKey().equals("name")) run.add(e.getKey(), e.getValue());
                    for (var e : combo.entrySet()) run.add(e.getKey(), e.getValue());
                    String curve = arm.containsKey("name") ? arm.get("name").getAsString() : modeOf(run, root);
                    StringBuilder name = new StringBuilder(curve);
                    for (var e : combo.entrySet()) {
                        if (e.getKey().equals("mode") && arm.isEmpty()) continue;  // already the curve's name
                        name.append('_').append(e.getKey().replace("_", "")).append(format(e.getValue()));
                    }
                    String n = name.toString().replaceAll("[^A-Za-z0-9._-]", "-");
                    String clash = names.putIfAbsent(n, combo.toString());
                    if (clash != null) throw error("grid", "two points give the run name " + n + " (" + clash + " and " + combo + "): give values that differ");
                    run.addProperty("name", n);
                    runs.add(run);
                    points.add(new GridPoint(curve, combo));
                }
            }
            config.add("runs", runs);
            RunConfig checked = RunConfig.parseTree(config, file, label);
            return new SweepConfig(file, checked.out, checked.runs, points, general, domain, budgets, evaluation);
        }

        String modeOf(JsonObject run, JsonObject root) {
            JsonElement m = run.has("mode") ? run.get("mode") : root.get("mode");
            if (m != null && !m.isJsonNull()) return m.getAsString();
            Setting mode = Setting.of("mode");
            return mode.format(mode.defaultValue());
        }

        TrainException unknown(String where, String key, Set<String> known) {
            String hint = RunConfig.closest(key, known);
            return error(where, "unknown key" + (hint == null ? "" : " (did you mean " + hint + "?)") + "; adept sweep --keys lists them");
        }

        Path requiredFile(JsonObject root, String key, Path folder) {
            JsonElement v = root.get(key);
            if (v == null || v.isJsonNull()) throw error(key, "a held-out file is required");
            if (!v.isJsonPrimitive() || !v.getAsJsonPrimitive().isString()) throw error(key, "expected a file path, got " + v);
            Path p = folder.resolve(v.getAsString()).toAbsolutePath().normalize();
            if (!Files.isRegularFile(p)) throw error(key, RunConfig.notAFile(p));
            return p;
        }

        List<Double> budgets(JsonElement v) {
            if (v == null || v.isJsonNull()) return DEFAULT_BUDGETS;
            if (!v.isJsonArray() || v.getAsJsonArray().isEmpty()) throw error("budgets", "expected a list of numbers, e.g. [0.05, 0.1], got " + v);
            List<Double> out = new ArrayList<>();
            for (JsonElement x : v.getAsJsonArray()) {
                double d = number(x, "budgets");
                if (!(d > 0) || !Double.isFinite(d)) throw error("budgets", "each budget must be a finite number > 0, got " + x);
                if (out.contains(d)) throw error("budgets", x + " is listed twice");
                out.add(d);
            }
            out.sort(Double::compare);
            return out;
        }

        double number(JsonElement x, String where) {
            if (x.isJsonPrimitive() && !x.getAsJsonPrimitive().isBoolean()) {
                try {
                    return new BigDecimal(x.getAsString().strip()).doubleValue();
                } catch (NumberFormatException e) {
                    // below
                }
            }
            throw error(where, "expected a number, got " + x);
        }

        HeldOut.Settings evaluation(JsonElement v) {
            if (v == null || v.isJsonNull()) return HeldOut.Settings.DEFAULT;
            if (!v.isJsonObject()) throw error("evaluate", "expected {batch_size: N, max_length: N, max_tokens: N}, got " + v);
            JsonObject o = v.getAsJsonObject();
            for (String key : o.keySet()) if (!EVALUATE_KEYS.contains(key)) throw unknown("evaluate." + key, key, EVALUATE_KEYS);
            int batch = (int) whole(o, "batch_size", HeldOut.Settings.DEFAULT.batchSize(), 1);
            Integer maxLength = o.has("max_length") && !o.get("max_length").isJsonNull() ? (int) whole(o, "max_length", 0, 2) : null;
            long maxTokens = whole(o, "max_tokens", 0, 0);
            return new HeldOut.Settings(batch, maxLength, maxTokens);
        }

        long whole(JsonObject o, String key, long fallback, long min) {
            JsonElement x = o.get(key);
            if (x == null || x.isJsonNull()) return fallback;
            double d = number(x, "evaluate." + key);
            if (d != Math.rint(d) || d < min || d > Integer.MAX_VALUE) throw error("evaluate." + key, "expected a whole number >= " + min + ", got " + x);
            return (long) d;
        }

        List<Map<String, JsonElement>> arms(JsonElement v) {
            List<Map<String, JsonElement>> out = new ArrayList<>();
            if (v == null || v.isJsonNull()) return out;
            if (!v.isJsonArray() || v.getAsJsonArray().isEmpty()) throw error("arms", "expected a list of {name: NAME, KEY: VALUE, ...}, got " + v);
            Set<String> names = new LinkedHashSet<>();
            JsonArray a = v.getAsJsonArray();
            for (int i = 0; i < a.size(); i++) {
                String at = "arms[" + (i + 1) + "]";
                if (!a.get(i).isJsonObject()) throw error(at, "expected {name: NAME, KEY: VALUE, ...}, got " + a.get(i));
                JsonObject o = a.get(i).getAsJsonObject();
                JsonElement n = o.get("name");
                if (n == null || !n.isJsonPrimitive() || !n.getAsJsonPrimitive().isString() || !RunConfig.RUN_NAME.matcher(n.getAsString()).matches()) {
                    throw error(at + ".name", "each arm needs a name of letters, digits, '.', '_', '-', got " + n);
                }
                if (!names.add(n.getAsString())) throw error(at + ".name", "duplicate arm name " + n);
                Map<String, JsonElement> arm = new LinkedHashMap<>();
                for (var e : o.entrySet()) {
                    if (!e.getKey().equals("name") && !trainingKeys.contains(e.getKey())) throw unknown(at + "." + e.getKey(), e.getKey(), trainingKeys);
                    arm.put(e.getKey(), e.getValue());
                }
                out.add(arm);
            }
            return out;
        }

        /** Every point of the grid (or the union of a list of grids), in order; duplicates are an error. */
        List<Map<String, JsonElement>> grid(JsonElement v) {
            if (v == null || v.isJsonNull()) throw error("grid", "give training keys with lists of values, e.g. {lr: [5e-4, 1e-3], seed: [1, 2]}");
            List<JsonObject> grids = new ArrayList<>();
            if (v.isJsonObject()) {
                grids.add(v.getAsJsonObject());
            } else if (v.isJsonArray() && !v.getAsJsonArray().isEmpty()) {
                for (JsonElement g : v.getAsJsonArray()) {
                    if (!g.isJsonObject()) throw error("grid", "expected maps of training keys to lists, got " + g);
                    grids.add(g.getAsJsonObject());
                }
            } else {
                throw error("grid", "expected a map of training keys to lists of values (or a list of such maps), got " + v);
            }
            List<Map<String, JsonElement>> out = new ArrayList<>();
            Map<String, String> seen = new HashMap<>();
            for (int g = 0; g < grids.size(); g++) {
                String at = grids.size() == 1 ? "grid" : "grid[" + (g + 1) + "]";
                JsonObject grid = grids.get(g);
                if (grid.isEmpty()) throw error(at, "no keys to vary");
                List<Map<String, JsonElement>> combos = new ArrayList<>();
                combos.add(new LinkedHashMap<>());
                for (var e : grid.entrySet()) {
                    String key = e.getKey();
                    if (!trainingKeys.contains(key)) throw unknown(at + "." + key, key, trainingKeys);
                    if (!e.getValue().isJsonArray()) throw error(at + "." + key, "expected a list of values, e.g. [1, 2], got " + e.getValue());
                    JsonArray values = e.getValue().getAsJsonArray();
                    if (values.isEmpty()) throw error(at + "." + key, "empty list: give at least one value");
                    Set<String> distinct = new LinkedHashSet<>();
                    for (JsonElement x : values) {
                        if (!distinct.add(canonical(x))) throw error(at + "." + key, "the value " + x + " is listed twice");
                    }
                    List<Map<String, JsonElement>> next = new ArrayList<>();
                    for (Map<String, JsonElement> c : combos) {
                        for (JsonElement x : values) {
                            Map<String, JsonElement> m = new LinkedHashMap<>(c);
                            m.put(key, x);
                            next.add(m);
                        }
                    }
                    combos = next;
                }
                for (Map<String, JsonElement> c : combos) {
                    Map<String, String> key = new java.util.TreeMap<>();
                    for (var e : c.entrySet()) key.put(e.getKey(), canonical(e.getValue()));
                    String earlier = seen.putIfAbsent(key.toString(), at);
                    if (earlier != null) throw error(at, "duplicated grid point " + key + " (also in " + earlier + ")");
                    out.add(c);
                }
            }
            return out;
        }
    }

    /** A value as comparable text: numbers by value (1e-3 equals 0.001), anything else as written. */
    static String canonical(JsonElement x) {
        if (x.isJsonPrimitive() && x.getAsJsonPrimitive().isString()) {
            try {
                return new BigDecimal(x.getAsString().strip()).stripTrailingZeros().toPlainString();  // YAML 1.1 reads 1e-3 as text
            } catch (NumberFormatException e) {
                return x.getAsString();
            }
        }
        if (x.isJsonPrimitive() && x.getAsJsonPrimitive().isNumber()) return new BigDecimal(x.getAsString()).stripTrailingZeros().toPlainString();
        return x.toString();
    }

    /** A grid value as part of a run name: numbers plainly (0.001), text as written. */
    static String format(JsonElement x) {
        return canonical(x).toLowerCase(Locale.ROOT);
    }
}
