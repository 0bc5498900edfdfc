package adept.train;

import adept.io.data.DataPosition;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.util.ArrayList;
import java.util.List;

/**
 * What a checkpoint needs beyond the weights and the optimizer state to resume exactly: the step, the
 * data position and which token file it refers to, the trainable tensors, the current rate assignment's
 * refresh step, and the settings the run was started with. Stored as trainer_state.json.
 */
public record TrainerState(long step, DataPosition data, String tokenFile, List<String> trainable, long lastRefreshStep,
                           long tokensSeen, double elapsedSeconds, TrainSettings settings, Preparation preparation) {
    public static final String FILE_NAME = "trainer_state.json";
    static final String FORMAT = "adept.trainer_state/1";

    public TrainerState {
        trainable = List.copyOf(trainable);
    }

    /**
     * How the run's model was prepared at its start (the summary's "how" and "layer_dl"), carried by every checkpoint so
     * that a resumed run's summary is the uninterrupted run's; null in checkpoints written before it was kept.
     */
    public record Preparation(String how, List<Double> layerDl) {
        public Preparation {
            layerDl = List.copyOf(layerDl);
        }
    }

    /** trainer_state.json's text. */
    public String toJson() {
        JsonObject o = new JsonObject();
        o.addProperty("format", FORMAT);
        o.addProperty("step", step);
        o.addProperty("data_epoch", data.epoch());
        o.addProperty("data_offset", data.offset());
        o.addProperty("token_file", tokenFile);
        o.addProperty("last_refresh_step", lastRefreshStep);
        o.addProperty("tokens_seen", tokensSeen);
        o.addProperty("elapsed_seconds", elapsedSeconds);
        JsonArray t = new JsonArray();
        trainable.forEach(t::add);
        o.add("trainable", t);
        o.add("settings", settings.toJsonObject());
        if (preparation != null) {
            o.addProperty("how", preparation.how());
            JsonArray d = new JsonArray();
            preparation.layerDl().forEach(d::add);
            o.add("layer_dl", d);
        }
        return TrainSettings.GSON.toJson(o) + "\n";
    }

    /** trainer_state.json is a few kilobytes (its settings and trainable names); more is damage. */
    static final long MAX_BYTES = 16 << 20;
    /** Steps, epochs and block offsets are ints in the trainer; a larger count is damage. */
    static final long MAX_COUNT = Integer.MAX_VALUE;

    /** Reads a checkpoint's trainer_state.json (bounded, strict UTF-8 and JSON); errors name the file and field. */
    public static TrainerState read(java.nio.file.Path file) {
        String text;
        try {
            text = adept.io.checkpoint.FileOps.readUtf8(file, MAX_BYTES, "trainer state");
        } catch (adept.io.checkpoint.CheckpointException e) {
            throw new TrainException(e.getMessage());
        }
        return parse(text, file.toString());
    }

    /**
     * Reads trainer_state.json text as strictly as a user's file: every field present with its type and range (whole
     * numbers within {@value #MAX_COUNT}, a finite elapsed time, at least one trainable name, each once); errors name
     * where and the field.
     */
    public static TrainerState parse(String json, String where) {
        JsonObject o;
        try {
            com.google.gson.JsonElement root = adept.io.checkpoint.StrictJson.parse(json);
            if (!root.isJsonObject()) throw new TrainException(where + ": not an adept trainer state (not a JSON object)");
            o = root.getAsJsonObject();
        } catch (adept.io.checkpoint.StrictJson.Malformed e) {
            throw new TrainException(where + ": malformed JSON: " + e.getMessage());
        }
        com.google.gson.JsonElement format = o.get("format");
        if (format == null || !format.isJsonPrimitive() || !FORMAT.equals(format.getAsString())) {
            throw new TrainException(where + ": not an adept trainer state (format is not " + FORMAT + ")");
        }
        long step = count(o, "step", where, 0, MAX_COUNT);
        long epoch = count(o, "data_epoch", where, 0, MAX_COUNT);
        long offset = count(o, "data_offset", where, 0, MAX_COUNT);
        String tokenFile = text(o, "token_file", where);
        if (!tokenFile.matches("[A-Za-z0-9._-]{1,255}") || tokenFile.startsWith(".")) {
            throw new TrainException(where + ": token_file '" + tokenFile + "' is not a token file's name");
        }
        long lastRefresh = count(o, "last_refresh_step", where, -1, step);
        long tokensSeen = count(o, "tokens_seen", where, 0, Long.MAX_VALUE / 2);
        com.google.gson.JsonElement elapsed = o.get("elapsed_seconds");
        if (elapsed == null || !elapsed.isJsonPrimitive() || !elapsed.getAsJsonPrimitive().isNumber() || !(elapsed.getAsDouble() >= 0)
                || !Double.isFinite(elapsed.getAsDouble())) {
            throw new TrainException(where + ": elapsed_seconds must be a finite number of seconds >= 0, got " + elapsed);
        }
        com.google.gson.JsonElement names = o.get("trainable");
        if (names == null || !names.isJsonArray() || names.getAsJsonArray().isEmpty()) {
            throw new TrainException(where + ": trainable must be a non-empty list of tensor names, got " + shorten(names));
        }
        List<String> trainable = new ArrayList<>();
        java.util.Set<String> seen = new java.util.HashSet<>();
        for (com.google.gson.JsonElement e : names.getAsJsonArray()) {
            if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isString() || e.getAsString().isBlank()) {
                throw new TrainException(where + ": trainable holds " + shorten(e) + ", not a tensor name");
            }
            if (!seen.add(e.getAsString())) throw new TrainException(where + ": trainable names " + e.getAsString() + " twice");
            trainable.add(e.getAsString());
        }
        com.google.gson.JsonElement settings = o.get("settings");
        if (settings == null || !settings.isJsonObject()) throw new TrainException(where + ": settings must be an object, got " + shorten(settings));
        TrainSettings parsed;
        try {
            parsed = TrainSettings.fromJson(settings.getAsJsonObject(), where);
        } catch (TrainException e) {
            throw e;
        } catch (RuntimeException e) {
            throw new TrainException(where + ": settings: " + e.getMessage());
        }
        return new TrainerState(step, new DataPosition(epoch, offset), tokenFile, trainable, lastRefresh, tokensSeen, elapsed.getAsDouble(), parsed,
                preparation(o, where));
    }

    /** The optional "how" and "layer_dl": both or neither. */
    private static Preparation preparation(JsonObject o, String where) {
        if (!o.has("how") && !o.has("layer_dl")) return null;
        String how = text(o, "how", where);
        if (how.length() > 4096) throw new TrainException(where + ": how is longer than 4096 characters");
        com.google.gson.JsonElement d = o.get("layer_dl");
        if (d == null || !d.isJsonArray() || d.getAsJsonArray().size() > 65536) {
            throw new TrainException(where + ": layer_dl must be a list of numbers, got " + shorten(d));
        }
        List<Double> values = new ArrayList<>();
        for (com.google.gson.JsonElement e : d.getAsJsonArray()) {
            if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isNumber() || !Double.isFinite(e.getAsDouble())) {
                throw new TrainException(where + ": layer_dl holds " + shorten(e) + ", not a finite number");
            }
            values.add(e.getAsDouble());
        }
        return new Preparation(how, values);
    }

    /** A whole number in [min, max] (1e3 is fine, 1.5 and "3" are not). */
    private static long count(JsonObject o, String field, String where, long min, long max) {
        com.google.gson.JsonElement e = o.get(field);
        if (e == null || !e.isJsonPrimitive() || !e.getAsJsonPrimitive().isNumber()) {
            throw new TrainException(where + ": " + field + " must be a whole number, got " + shorten(e));
        }
        java.math.BigDecimal v;
        try {
            v = e.getAsBigDecimal();
        } catch (NumberFormatException bad) {
            throw new TrainException(where + ": " + field + " must be a whole number, got " + shorten(e));
        }
        if (v.signum() != 0 && v.stripTrailingZeros().scale() > 0) throw new TrainException(where + ": " + field + " must be a whole number, got " + shorten(e));
        if (v.compareTo(java.math.BigDecimal.valueOf(min)) < 0 || v.compareTo(java.math.BigDecimal.valueOf(max)) > 0) {
            throw new TrainException(where + ": " + field + " " + shorten(e) + " is out of range " + min + ".." + max);
        }
        return v.longValueExact();
    }

    private static String text(JsonObject o, String field, String where) {
        com.google.gson.JsonElement e = o.get(field);
        if (e == null || !e.isJsonPrimitive() || !e.getAsJsonPrimitive().isString()) {
            throw new TrainException(where + ": " + field + " must be a string, got " + shorten(e));
        }
        return e.getAsString();
    }

    /** A JSON value for a message: at most 60 characters (a damaged file may hold megabytes). */
    private static String shorten(com.google.gson.JsonElement e) {
        String t = e == null ? "nothing" : e.toString();
        return t.length() <= 60 ? t : t.substring(0, 57) + "...";
    }
}
