package adept.train;

import adept.io.checkpoint.FileOps;
import adept.report.Heatmap;
import adept.report.LineChart;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Consumer;

/**
 * The run's pictures, from its logs (so they can be drawn again at any time, `adept plot`): loss.png
 * (training loss and its moving average, held-out loss), importance.png (unit importance over trainable
 * layers x units, one panel per refresh) and rates.png (the rate multipliers the same way; frozen = 0).
 */
public final class TrainPlots {
    /** At most this many refresh panels (evenly spaced, the last one always included). */
    static final int MAX_PANELS = 6;

    private TrainPlots() {}

    /** Writes the plots into out; returns the files written. */
    public static List<Path> write(Path out, Consumer<String> info) {
        List<Path> written = new ArrayList<>();
        List<JsonObject> metrics = RunLog.read(out.resolve(Trainer.METRICS_FILE));
        List<JsonObject> importance = RunLog.read(out.resolve(Trainer.IMPORTANCE_FILE));
        try {
            if (!metrics.isEmpty()) {
                Path f = out.resolve("loss.png");
                FileOps.writeAtomically(f, channel -> FileOps.writeFully(channel, java.nio.ByteBuffer.wrap(lossChart(metrics, out).png())));
                written.add(f);
            }
            if (!importance.isEmpty()) {
                for (String field : List.of("importance", "multiplier")) {
                    Path f = out.resolve(field.equals("importance") ? "importance.png" : "rates.png");
                    byte[] png = heatmap(importance, field);
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
            for (JsonObject o : RunLog.read(run.resolve(Trainer.METRICS_FILE))) {
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

    static byte[] heatmap(List<JsonObject> lines, String field) {
        // refresh step -> layer -> index -> value
        Map<Long, Map<Integer, Map<Integer, Double>>> byStep = new TreeMap<>();
        for (JsonObject o : lines) {
            double v = o.get(field).getAsDouble();
            if (field.equals("multiplier") && o.has("frozen") && o.get("frozen").getAsBoolean()) v = 0;
            byStep.computeIfAbsent(o.get("step").getAsLong(), k -> new TreeMap<>())
                    .computeIfAbsent(o.get("layer").getAsInt(), k -> new TreeMap<>()).put(o.get("index").getAsInt(), v);
        }
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
            int columns = layers.values().stream().mapToInt(m -> m.keySet().stream().mapToInt(Integer::intValue).max().orElse(0) + 1).max().orElse(1);
            String[] rowLabels = new String[layers.size()];
            String[] columnLabels = new String[columns];
            for (int c = 0; c < columns; c++) columnLabels[c] = Integer.toString(c);
            double[][] values = new double[layers.size()][columns];
            int r = 0;
            for (var e : layers.entrySet()) {
                rowLabels[r] = e.getKey() < 0 ? "other" : "layer " + e.getKey();
                java.util.Arrays.fill(values[r], Double.NaN);
                for (var u : e.getValue().entrySet()) values[r][u.getKey()] = u.getValue();
                r++;
            }
            panels.add(new Heatmap.Panel("refresh at step " + step, rowLabels, columnLabels, values));
        }
        String title = field.equals("importance") ? "Unit importance for general competence (|theta| * mean |dL_probe/dtheta|)"
                : "Rate multipliers (x base rate; frozen = 0)";
        return Heatmap.png(title, panels, field.equals("importance") ? "importance" : "multiplier");
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
