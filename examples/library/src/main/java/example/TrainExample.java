package example;

import adept.eval.Perplexity;
import adept.tensor.Device;
import adept.train.HeldOut;
import adept.train.TrainMode;
import adept.train.TrainSettings;
import adept.train.Trainer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.List;

/**
 * The README's library example: ADEPT (probe, expand, adaptive rates) on the tiny model that AdeptExample wrote into
 * the work folder, trained on a small domain text, saved, and evaluated on held-out text. The lines between the
 * README markers are copied into README.md verbatim (a test checks they agree).
 */
public final class TrainExample {
    public static void main(String[] args) throws IOException {
        Path work = Path.of(args[0]);
        Path base = work.resolve("tiny-llama");
        Path domain = Files.writeString(work.resolve("domain.txt"), String.join("\n",
                Collections.nCopies(40, "a big dog ran to the park . a small red house and a big tree .")) + "\n");
        Path probe = Files.writeString(work.resolve("probe.txt"), "the cat sat on the mat .\nthe sun and the moon .\n");
        Path heldOut = Files.writeString(work.resolve("heldout.txt"), "a big red dog ran to the tree .\n");
        Path out = work.resolve("run");
        // README:begin
        TrainSettings s = TrainSettings.builder()   // every key of `adept run --keys`, with its default
                .model(base)                         // a Hugging Face folder
                .data(domain)                        // the domain text (text or JSON Lines)
                .probe(probe)                        // general text: stage 1's probe and stage 2's importance
                .out(out)
                .mode(TrainMode.ADEPT)               // or FULL, LLAMA_PRO, LORA, ...
                .k(1)                                // layers to copy
                .steps(20).blockSize(16).batchSize(4).lr(1e-3).refreshEvery(5)
                .build();                            // checks every value (one line naming the key)
        Trainer.Result r = new Trainer(s).run(); // probe, expand, train; resumes if out holds this run
        List<Perplexity.Result> eval = HeldOut.evaluate(r.model(), List.of(heldOut), HeldOut.Settings.DEFAULT, Device.CPU, null);
        System.out.printf("trained %s: loss %.3f, held-out %.3f, %.1f%% of parameters trained%n",
                r.model(), r.lastLoss(), eval.get(0).loss(), 100 * r.trainableFraction());
        // README:end
        if (!(eval.get(0).loss() > 0) || r.status() != Trainer.Status.COMPLETED) throw new IllegalStateException("the example did not train");
    }
}
