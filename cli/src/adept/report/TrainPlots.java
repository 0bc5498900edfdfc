package adept.report;

import adept.io.checkpoint.FileOps;
import adept.train.RunFolder;
import adept.train.RunLog;
import adept.train.TrainListener;
import com.google.gson.JsonObject;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Consumer;

/**
 * The run's pictures, from its logs (so they can be drawn again at any time, `adept plot`): loss.png
 * (training loss and its moving average, held-out loss), importance.png (unit importance over trainable
 * layers x units, one panel per refresh, log colour scale, units named q, k, v, ... on the axis) and rates.png
 * (the element-weighted mean multiplier per refresh against 1, above the rate multipliers drawn as importance
 * is; frozen = 0).
 */
public final class TrainPlots {
    /** At most this many refresh panels (evenly spaced, the last one always included). */
    static final int MAX_PANELS = 6;

    private TrainPlots() {}

    /** A listener that draws a completed run's plots into its folder (as `adept plot` does), naming them through info. */
    public static TrainListener listener(Consumer<String> info) {
        return new TrainListener() {
            @Override
            public void outputsWritten(Path out) {
                write(out, info);
            }
        };
    }

    /** Writes the plots into out; returns the files written. */
    public static List<Path> write(Path out, Consumer<String> info) {
        List<Path> written = new ArrayList<>();
        FileOps.removeStaleTemporaries(out);  // an interrupted earlier plot's .loss.png.PID-HEX.tmp
        List<JsonObject> metrics = RunLog.read(out.resolve(RunFolder.METRICS_FILE));
        List<JsonObject> importance = RunLog.readImportance(out.resolve(RunFolder.IMPORTANCE_FILE));
        try {
            if (!metrics.isEmpty()) {
                Path f = out.resolve("loss.png");
                FileOps.writeAtomically(f, channel -> FileOps.writeFully(channel, java.nio.ByteBuffer.wrap(lossChart(metrics, out).png())));
                written.add(f);
            }
            if (!importance.isEmpty()) {
                for (String name : List.of("importance.png", "rates.png")) {
                    Path f = out.resolve(name);
                    byte[] png = name.equals("importance.png") ? importancePng(importance) : ratesPng(importance);
                    FileOps.writeAtomically(f, channel -> FileOps.writeFully(channel, java.nio.ByteBuffer.wrap(png)));
                    written.add(f);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write plots into " + out + ": " + e.getMessage(), e);
        }
        if (info != null && !written.isEmpty()) info.accept("plots: " + String.join(", ", written.stream().map(p -> p.getFileName().toString()).toList()));
        return written;
    }

    /**
     * One chart of several runs: their held-out loss (metric "eval_loss") or training loss ("loss", as a
     * 20-step moving average) against the step, one series per run, named by its folder.
     */
    public static byte[] compare(List<Path> runs, String metric, String title) {
        List<LineChart.Series> series = new ArrayList<>();
        for (Path run : runs) {
            List<Double> steps = new ArrayList<>();
            List<Double> values = new ArrayList<>();
            for (JsonObject o : RunLog.read(run.resolve(RunFolder.METRICS_FILE))) {
                if (!o.has(metric)) continue;
                steps.add(o.get("step").getAsDouble());
                values.add(o.get(metric).getAsDouble());
            }
            if (steps.isEmpty()) continue;
            double[] y = metric.equals("loss") && values.size() > 20 ? movingAverage(values, 20) : array(values);
            series.add(new LineChart.Series(run.getFileName().toString(), array(steps), y));
        }
        String label = metric.equals("eval_loss") ? "held-out loss" : "training loss (20-step moving average)";
        return new LineChart(title, label, "optimizer step", "loss", series).png();
    }

    static LineChart lossChart(List<JsonObject> metrics, Path out) {
        List<Double> steps = new ArrayList<>();
        List<Double> losses = new ArrayList<>();
        List<Double> evalSteps = new ArrayList<>();
        List<Double> evalLosses = new ArrayList<>();
        for (JsonObject o : metrics) {
            if (o.has("loss")) {
                steps.add(o.get("step").getAsDouble());
                losses.add(o.get("loss").getAsDouble());
            }
            if (o.has("eval_loss")) {
                evalSteps.add(o.get("step").getAsDouble());
                evalLosses.add(o.get("eval_loss").getAsDouble());
            }
        }
        List<LineChart.Series> series = new ArrayList<>();
        series.add(new LineChart.Series("training loss", array(steps), array(losses)));
        if (losses.size() > 20) series.add(new LineChart.Series("training loss (moving average)", array(steps), movingAverage(losses, 20)));
        if (!evalLosses.isEmpty()) series.add(new LineChart.Series("held-out loss", array(evalSteps), array(evalLosses)));
        return new LineChart("Loss: " + out.getFileName(), "next-token cross-entropy", "optimizer step", "loss", series);
    }

    /** importance.png: the importance heatmaps on a log colour scale (norms and matrices differ by decades). */
    static byte[] importancePng(List<JsonObject> lines) {
        return Heatmap.png("Unit importance for general competence (|theta| * mean |dL_probe/dtheta|)", panels(lines, "importance"),
                "importance (log scale)", Heatmap.Scale.LOG);
    }

    /** rates.png: the mean multiplier per refresh (a line against 1 = the base rate) above the multiplier heatmaps. */
    static byte[] ratesPng(List<JsonObject> lines) {
        BufferedImage mean = meanMultiplierChart(lines).render(Heatmap.DEFAULT_WIDTH, MEAN_CHART_HEIGHT);
        BufferedImage cells = Heatmap.image("Rate multipliers (x base rate; frozen = 0)", panels(lines, "multiplier"), "multiplier",
                Heatmap.Scale.LINEAR);
        return ChartStack.png(List.of(mean, cells));
    }

    static final int MEAN_CHART_HEIGHT = 380;

    /**
     * The mean rate multiplier of one refresh over the trainable elements: each unit weighs its element count and
     * counts 0 when frozen. weighted is false when a line has no "elements" (logs written before it was added);
     * then every unit weighs 1.
     */
    record MeanMultiplier(long step, double value, boolean weighted) {}

    static MeanMultiplier meanMultiplier(long step, List<JsonObject> refresh) {
        boolean weighted = !refresh.isEmpty() && refresh.stream().allMatch(o -> o.has("elements") && o.get("elements").isJsonPrimitive());
        double sum = 0;
        double weights = 0;
        for (JsonObject o : refresh) {
            double w = weighted ? o.get("elements").getAsDouble() : 1;
            boolean frozen = o.has("frozen") && o.get("frozen").getAsBoolean();
            sum += w * (frozen ? 0 : o.get("multiplier").getAsDouble());
            weights += w;
        }
        return new MeanMultiplier(step, weights > 0 ? sum / weights : Double.NaN, weighted);
    }

    static List<MeanMultiplier> meanMultipliers(List<JsonObject> lines) {
        Map<Long, List<JsonObject>> byStep = new TreeMap<>();
        for (JsonObject o : lines) byStep.computeIfAbsent(o.get("step").getAsLong(), k -> new ArrayList<>()).add(o);
        List<MeanMultiplier> out = new ArrayList<>();
        for (var e : byStep.entrySet()) out.add(meanMultiplier(e.getKey(), e.getValue()));
        return out;
    }

    static final String WEIGHTED = "mean multiplier, weighted by unit elements";
    static final String UNWEIGHTED = "mean multiplier over units, unweighted (log has no element counts)";

    static LineChart meanMultiplierChart(List<JsonObject> lines) {
        return new LineChart("Mean rate multiplier over the trainable elements", "frozen units count as 0; one point per importance refresh",
                "optimizer step", "multiplier (x base rate)", meanMultiplierSeries(lines)).withReference(new LineChart.Reference(1, "1 = base rate"));
    }

    /** The weighted means as one series, and those of refreshes without element counts as another, plainly named. */
    static List<LineChart.Series> meanMultiplierSeries(List<JsonObject> lines) {
        List<LineChart.Series> series = new ArrayList<>();
        for (boolean weighted : new boolean[] {true, false}) {
            List<Double> steps = new ArrayList<>();
            List<Double> means = new ArrayList<>();
            for (MeanMultiplier m : meanMultipliers(lines)) {
                if (m.weighted() != weighted) continue;
                steps.add((double) m.step());
                means.add(m.value());
            }
            if (!steps.isEmpty()) series.add(new LineChart.Series(weighted ? WEIGHTED : UNWEIGHTED, array(steps), array(means)));
        }
        return series;
    }

    /** One heatmap panel per shown refresh: trainable layers x units, columns named by {@link UnitLabel}. */
    static List<Heatmap.Panel> panels(List<JsonObject> lines, String field) {
        // refresh step -> layer -> index -> value
        Map<Long, Map<Integer, Map<Integer, Double>>> byStep = new TreeMap<>();
        // layer -> index -> label (the same units at every refresh)
        Map<Integer, Map<Integer, String>> names = new TreeMap<>();
        for (JsonObject o : lines) {
            double v = o.get(field).getAsDouble();
            if (field.equals("multiplier") && o.has("frozen") && o.get("frozen").getAsBoolean()) v = 0;
            int layer = o.get("layer").getAsInt();
            int index = o.get("index").getAsInt();
            byStep.computeIfAbsent(o.get("step").getAsLong(), k -> new TreeMap<>()).computeIfAbsent(layer, k -> new TreeMap<>()).put(index, v);
            names.computeIfAbsent(layer, k -> new TreeMap<>()).put(index, o.has("unit") ? o.get("unit").getAsString() : Integer.toString(index));
        }
        Map<Integer, Map<Integer, String>> labels = labels(names);
        List<String> columns = columns(labels);
        Map<String, Integer> column = new HashMap<>();
        for (int c = 0; c < columns.size(); c++) column.put(columns.get(c), c);

        List<Long> refreshSteps = new ArrayList<>(byStep.keySet());
        List<Long> shown = new ArrayList<>();
        int n = refreshSteps.size();
        for (int i = 0; i < Math.min(MAX_PANELS, n); i++) {
            long step = refreshSteps.get(n <= MAX_PANELS ? i : (int) Math.round((double) i * (n - 1) / (MAX_PANELS - 1)));
            if (!shown.contains(step)) shown.add(step);
        }
        List<Heatmap.Panel> panels = new ArrayList<>();
        for (long step : shown) {
            Map<Integer, Map<Integer, Double>> layers = byStep.get(step);
            String[] rowLabels = new String[layers.size()];
            double[][] values = new double[layers.size()][columns.size()];
            int r = 0;
            for (var e : layers.entrySet()) {
                rowLabels[r] = e.getKey() < 0 ? "other" : "layer " + e.getKey();
                Arrays.fill(values[r], Double.NaN);
                for (var u : e.getValue().entrySet()) values[r][column.get(labels.get(e.getKey()).get(u.getKey()))] = u.getValue();
                r++;
            }
            panels.add(new Heatmap.Panel("refresh at step " + step, rowLabels, columns.toArray(String[]::new), values));
        }
        return panels;
    }

    /** layer -> index -> short label; a label two units of one layer would share falls back to their names. */
    private static Map<Integer, Map<Integer, String>> labels(Map<Integer, Map<Integer, String>> names) {
        Map<Integer, Map<Integer, String>> out = new TreeMap<>();
        for (var layer : names.entrySet()) {
            Map<String, Integer> uses = new HashMap<>();
            for (String name : layer.getValue().values()) uses.merge(UnitLabel.of(name), 1, Integer::sum);
            Map<Integer, String> labels = new TreeMap<>();
            for (var u : layer.getValue().entrySet()) {
                String label = UnitLabel.of(u.getValue());
                labels.put(u.getKey(), uses.get(label) == 1 ? label : u.getValue());
            }
            out.put(layer.getKey(), labels);
        }
        return out;
    }

    /**
     * The columns: every layer's labels in its unit order, merged (a label new to the list goes after the one
     * before it in its layer, or last when it is its layer's first), decoder layers first so tensors outside them
     * (layer -1) come last.
     */
    static List<String> columns(Map<Integer, Map<Integer, String>> labels) {
        List<Integer> order = new ArrayList<>(labels.keySet());
        order.sort((a, b) -> a < 0 == b < 0 ? Integer.compare(a, b) : a < 0 ? 1 : -1);
        List<String> out = new ArrayList<>();
        Set<String> seen = new HashSet<>();
        for (int layer : order) {
            Collection<String> sequence = labels.get(layer).values();
            if (seen.containsAll(sequence)) continue;  // the usual case: every layer has the same units
            int at = out.size();
            for (String label : sequence) {
                if (seen.add(label)) out.add(at++, label);
                else at = out.indexOf(label) + 1;
            }
        }
        return out;
    }

    private static double[] array(List<Double> values) {
        return values.stream().mapToDouble(Double::doubleValue).toArray();
    }

    private static double[] movingAverage(List<Double> values, int window) {
        double[] out = new double[values.size()];
        double sum = 0;
        for (int i = 0; i < values.size(); i++) {
            sum += values.get(i);
            if (i >= window) sum -= values.get(i - window);
            out[i] = sum / Math.min(i + 1, window);
        }
        return out;
    }
}
