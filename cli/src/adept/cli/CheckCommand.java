package adept.cli;

import adept.report.ProgressBar;
import adept.tensor.Device;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import adept.tensor.Torch;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** A small end-to-end computation that shows libtorch working from Java: a matmul and a fit by autograd. */
@Command(name = "check", mixinStandardHelpOptions = true,
        description = "Show libtorch working: a hand-checked matmul, then fit a linear model by gradient descent with autograd.")
public final class CheckCommand implements Callable<Integer> {
    @Mixin
    DeviceOption device;

    @Option(names = "--steps", defaultValue = "300", description = "gradient steps (default: ${DEFAULT-VALUE})")
    int steps;

    @Override
    public Integer call() {
        Device dev = device.device();
        Torch.manualSeed(0);
        try (Scope scope = Scope.open()) {
            // [[1,2],[3,4]] @ [[5,6],[7,8]] = [[19,22],[43,50]]
            Tensor a = Tensor.of(new float[] {1, 2, 3, 4}, 2, 2).to(dev);
            Tensor b = Tensor.of(new float[] {5, 6, 7, 8}, 2, 2).to(dev);
            float[] product = a.matmul(b).toFloatArray();
            boolean matmulOk = product[0] == 19 && product[1] == 22 && product[2] == 43 && product[3] == 50;
            System.out.printf("matmul on %s: [[%.0f, %.0f], [%.0f, %.0f]] %s%n", dev, product[0], product[1], product[2], product[3],
                    matmulOk ? "ok" : "WRONG (expected [[19, 22], [43, 50]])");

            // y = X w* + 0.01 noise; recover w* by gradient descent on the mean squared error.
            Tensor trueWeights = Tensor.of(new float[] {2.0f, -3.0f, 0.5f}, 3, 1).to(dev);
            Tensor x = Tensor.randn(adept.tensor.DType.FLOAT32, dev, 256, 3);
            Tensor y = x.matmul(trueWeights).add(Tensor.randn(adept.tensor.DType.FLOAT32, dev, 256, 1).mul(0.01));
            Tensor w = Tensor.zeros(adept.tensor.DType.FLOAT32, dev, 3, 1).requiresGrad(true);
            double firstLoss = 0, lastLoss = 0;
            ProgressBar bar = new ProgressBar("fit", steps);
            for (int step = 0; step < steps; step++) {
                try (Scope stepScope = Scope.open()) {
                    Tensor loss = x.matmul(w).sub(y).square().mean();
                    loss.backward();
                    Tensor grad = w.grad();
                    try (var noGrad = Torch.noGrad()) {
                        w.addInPlace(grad, -0.1);
                        grad.zero();
                    }
                    lastLoss = loss.item();
                    if (step == 0) firstLoss = lastLoss;
                }
                bar.step(String.format("loss %.5f", lastLoss));
            }
            bar.done();
            float[] fitted = w.toFloatArray();
            double maxError = Math.max(Math.abs(fitted[0] - 2.0), Math.max(Math.abs(fitted[1] + 3.0), Math.abs(fitted[2] - 0.5)));
            System.out.printf("fit: loss %.5f -> %.6f, w = [%.4f, %.4f, %.4f] (true [2, -3, 0.5], max error %.4f) %s%n",
                    firstLoss, lastLoss, fitted[0], fitted[1], fitted[2], maxError, maxError < 0.01 ? "ok" : "NOT CONVERGED");
            System.out.println("live native tensors in scope: " + scope.size() + ", total " + Torch.liveTensors());
            return matmulOk && maxError < 0.01 ? 0 : 1;
        }
    }

}
