package adept.io.tensorboard;

import com.google.protobuf.ByteString;
import com.google.protobuf.Descriptors.Descriptor;
import com.google.protobuf.DynamicMessage;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Map;

/**
 * A TensorBoard event file ({@code events.out.tfevents.SECONDS.HOST.adept}, what {@code tensorboard --logdir DIR}
 * reads): TFRecord-framed Event protobufs, the first naming the format ("brain.Event:2"). Scalars are Summary values
 * with simple_value, histograms HistogramProto, text a string tensor for the text plugin. Every call writes its
 * records and flushes them (a killed run leaves at most a torn last record, which TensorBoard skips).
 */
public final class EventWriter implements AutoCloseable {
    /** What every event file's name contains. */
    public static final String NAME_MARK = "tfevents";
    private final Path file;
    private final OutputStream out;

    private EventWriter(Path file) throws IOException {
        this.file = file;
        this.out = new BufferedOutputStream(Files.newOutputStream(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE));
        write(event(0).setField(field(EventProtos.EVENT, "file_version"), "brain.Event:2"));
    }

    /** A new event file in dir (created when missing), named as TensorFlow names them, with the version record written. */
    public static EventWriter create(Path dir) {
        try {
            Files.createDirectories(dir);
            String host = java.net.InetAddress.getLocalHost().getHostName().replaceAll("[^A-Za-z0-9._-]", "_");
            long seconds = System.currentTimeMillis() / 1000;
            for (int n = 0; ; n++) {
                Path f = dir.resolve("events.out." + NAME_MARK + "." + seconds + "." + host + ".adept" + (n == 0 ? "" : "." + n));
                if (!Files.exists(f)) return new EventWriter(f);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write an event file in " + dir + ": " + e.getMessage(), e);
        }
    }

    /** The file written. */
    public Path file() {
        return file;
    }

    /** Scalars at step, one event: tag -> value (float32 on the wire, as TensorBoard stores them). */
    public void scalars(long step, Map<String, Double> values) {
        if (values.isEmpty()) return;
        DynamicMessage.Builder summary = DynamicMessage.newBuilder(EventProtos.SUMMARY);
        for (var e : values.entrySet()) {
            summary.addRepeatedField(field(EventProtos.SUMMARY, "value"), value(e.getKey())
                    .setField(field(EventProtos.VALUE, "simple_value"), (float) e.getValue().doubleValue()).build());
        }
        writeSummary(step, summary);
    }

    /** One scalar at step. */
    public void scalar(String tag, long step, double value) {
        scalars(step, Map.of(tag, value));
    }

    /** A histogram of values at step: buckets equal-width between min and max (one bucket when they are equal). */
    public void histogram(String tag, long step, double[] values, int buckets) {
        if (values.length == 0) return;
        double min = Double.POSITIVE_INFINITY;
        double max = Double.NEGATIVE_INFINITY;
        double sum = 0;
        double squares = 0;
        for (double v : values) {
            min = Math.min(min, v);
            max = Math.max(max, v);
            sum += v;
            squares += v * v;
        }
        int n = max > min ? Math.max(1, buckets) : 1;
        double[] counts = new double[n];
        for (double v : values) counts[n == 1 ? 0 : Math.min(n - 1, (int) ((v - min) / (max - min) * n))]++;
        DynamicMessage.Builder h = DynamicMessage.newBuilder(EventProtos.HISTOGRAM)
                .setField(field(EventProtos.HISTOGRAM, "min"), min)
                .setField(field(EventProtos.HISTOGRAM, "max"), max)
                .setField(field(EventProtos.HISTOGRAM, "num"), (double) values.length)
                .setField(field(EventProtos.HISTOGRAM, "sum"), sum)
                .setField(field(EventProtos.HISTOGRAM, "sum_squares"), squares);
        for (int i = 0; i < n; i++) {
            // bucket i spans (limit[i-1], limit[i]]; TensorBoard takes min as the first left edge and max as the last right one
            h.addRepeatedField(field(EventProtos.HISTOGRAM, "bucket_limit"), i == n - 1 ? max : min + (max - min) * (i + 1) / n);
            h.addRepeatedField(field(EventProtos.HISTOGRAM, "bucket"), counts[i]);
        }
        DynamicMessage.Builder summary = DynamicMessage.newBuilder(EventProtos.SUMMARY);
        summary.addRepeatedField(field(EventProtos.SUMMARY, "value"), value(tag).setField(field(EventProtos.VALUE, "histo"), h.build()).build());
        writeSummary(step, summary);
    }

    /** Text (Markdown) at step, for TensorBoard's text plugin: a scalar string tensor whose metadata names the plugin. */
    public void text(String tag, long step, String markdown) {
        DynamicMessage shape = DynamicMessage.newBuilder(EventProtos.SHAPE).build();  // no dims: a scalar
        DynamicMessage tensor = DynamicMessage.newBuilder(EventProtos.TENSOR)
                .setField(field(EventProtos.TENSOR, "dtype"), EventProtos.TENSOR.findFieldByName("dtype").getEnumType().findValueByNumber(EventProtos.DT_STRING))
                .setField(field(EventProtos.TENSOR, "tensor_shape"), shape)
                .addRepeatedField(field(EventProtos.TENSOR, "string_val"), ByteString.copyFrom(markdown, StandardCharsets.UTF_8))
                .build();
        DynamicMessage plugin = DynamicMessage.newBuilder(EventProtos.PLUGIN_DATA).setField(field(EventProtos.PLUGIN_DATA, "plugin_name"), "text").build();
        DynamicMessage metadata = DynamicMessage.newBuilder(EventProtos.METADATA).setField(field(EventProtos.METADATA, "plugin_data"), plugin).build();
        DynamicMessage.Builder summary = DynamicMessage.newBuilder(EventProtos.SUMMARY);
        summary.addRepeatedField(field(EventProtos.SUMMARY, "value"), value(tag).setField(field(EventProtos.VALUE, "tensor"), tensor)
                .setField(field(EventProtos.VALUE, "metadata"), metadata).build());
        writeSummary(step, summary);
    }

    /**
     * SessionLog START at step: TensorBoard drops what earlier files logged at this step and later, so a run resumed
     * from a checkpoint shows each step once.
     */
    public void sessionStart(long step) {
        DynamicMessage log = DynamicMessage.newBuilder(EventProtos.SESSION_LOG)
                .setField(field(EventProtos.SESSION_LOG, "status"), EventProtos.SESSION_LOG.findEnumTypeByName("SessionStatus").findValueByName("START"))
                .build();
        write(event(step).setField(field(EventProtos.EVENT, "session_log"), log));
    }

    private static DynamicMessage.Builder value(String tag) {
        return DynamicMessage.newBuilder(EventProtos.VALUE).setField(field(EventProtos.VALUE, "tag"), tag);
    }

    private void writeSummary(long step, DynamicMessage.Builder summary) {
        write(event(step).setField(field(EventProtos.EVENT, "summary"), summary.build()));
    }

    private static DynamicMessage.Builder event(long step) {
        return DynamicMessage.newBuilder(EventProtos.EVENT)
                .setField(field(EventProtos.EVENT, "wall_time"), System.currentTimeMillis() / 1000.0)
                .setField(field(EventProtos.EVENT, "step"), step);
    }

    private static com.google.protobuf.Descriptors.FieldDescriptor field(Descriptor type, String name) {
        return type.findFieldByName(name);
    }

    private synchronized void write(DynamicMessage.Builder event) {
        try {
            out.write(TfRecord.frame(event.build().toByteArray()));
            out.flush();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file + ": " + e.getMessage(), e);
        }
    }

    @Override
    public synchronized void close() {
        try {
            out.close();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file + ": " + e.getMessage(), e);
        }
    }
}
