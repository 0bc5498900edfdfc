package adept.train;

import adept.testing.TinyModel;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/** A tiny model, a domain corpus and a held-out file of TinyModel's words, and settings that train in seconds. */
final class TrainFixtures {
    private TrainFixtures() {}

    /** JSON Lines of seeded random sentences; "domain" text prefers a few words, as a domain would. */
    static Path corpus(Path file, long seed, int documents) throws IOException {
        Random random = new Random(seed);
        List<String> domain = List.of("one", "two", "three", "four", "five", "plus", "equals", "answer", "question", "what");
        List<String> lines = new ArrayList<>();
        for (int d = 0; d < documents; d++) {
            StringBuilder text = new StringBuilder();
            int n = 5 + random.nextInt(20);
            for (int w = 0; w < n; w++) {
                if (w > 0) text.append(' ');
                text.append(random.nextInt(3) > 0 ? domain.get(random.nextInt(domain.size())) : TinyModel.WORDS.get(random.nextInt(TinyModel.WORDS.size())));
            }
            lines.add("{\"text\": \"" + text.toString().replace("\"", "") + "\"}");
        }
        return Files.write(file, lines, StandardCharsets.UTF_8);
    }

    static TrainSettings settings(Path dir, String mode) throws IOException {
        Path model = dir.resolve("base");
        if (!Files.exists(model)) TinyModel.write(model, 5);
        Path data = dir.resolve("domain.jsonl");
        if (!Files.exists(data)) corpus(data, 1, 300);
        Path eval = dir.resolve("heldout.jsonl");
        if (!Files.exists(eval)) corpus(eval, 2, 20);
        Path probe = dir.resolve("probe.jsonl");
        if (!Files.exists(probe)) TinyModel.writeProbe(probe);
        return TrainSettings.builder()
                .model(model)
                .data(data)
                .eval(eval)
                .probe(probe)
                .out(dir.resolve("run-" + mode))
                .mode(TrainMode.parse(mode))
                .k(2)
                .steps(30)
                .blockSize(16)
                .batchSize(4)
                .lr(3e-3)
                .refreshEvery(10)
                .probeBatchSize(4)
                .saveEvery(10L)
                .evalEvery(10L)
                .build();
    }
}
