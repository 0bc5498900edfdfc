package adept.train;

import adept.io.data.DataPosition;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.util.ArrayList;
import java.util.List;

/**
 * What a checkpoint needs beyond the weights and the optimizer state to resume exactly: the step, the
 * data position and which token file it refers to, the trainable tensors, the current rate assignment's
 * refresh step, and the settings the run was started with. Stored as trainer_state.json.
 */
public record TrainerState(long step, DataPosition data, String tokenFile, List<String> trainable, long lastRefreshStep,
                           long tokensSeen, double elapsedSeconds, TrainSettings settings) {
    public static final String FILE_NAME = "trainer_state.json";
    static final String FORMAT = "adept.trainer_state/1";

    public TrainerState {
        trainable = List.copyOf(trainable);
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
        return TrainSettings.GSON.toJson(o) + "\n";
    }

    /** Reads trainer_state.json text; errors name where. */
    public static TrainerState parse(String json, String where) {
        try {
            JsonObject o = JsonParser.parseString(json).getAsJsonObject();
            if (!FORMAT.equals(o.get("format").getAsString())) throw new TrainException(where + ": not an adept trainer state");
            List<String> trainable = new ArrayList<>();
            o.getAsJsonArray("trainable").forEach(e -> trainable.add(e.getAsString()));
            return new TrainerState(o.get("step").getAsLong(), new DataPosition(o.get("data_epoch").getAsLong(), o.get("data_offset").getAsLong()),
                    o.get("token_file").getAsString(), trainable, o.get("last_refresh_step").getAsLong(), o.get("tokens_seen").getAsLong(),
                    o.get("elapsed_seconds").getAsDouble(), TrainSettings.fromJson(o.getAsJsonObject("settings"), where));
        } catch (RuntimeException e) {
            if (e instanceof TrainException t) throw t;
            throw new TrainException(where + ": unreadable trainer state: " + e.getMessage());
        }
    }
}
