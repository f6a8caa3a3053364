"""What the 50-way top-1 of a GOD-like in-silico subject can reach with the shipped diffusion model.

The shipped model is conditioned on the shipped embedder's image embedding. Conditioned on the true embedding of
each test image, its samples give the ceiling of any brain decoder that draws with it; conditioned on a ridge
prediction of that embedding from the training split's single trials (penalty chosen on the validation split by
cosine similarity), a linear baseline of what the brain gives. Both draw 5 samples per test image (25 DDIM steps,
classifier-free guidance 3, as ``decode reconstruct``) and are scored as ``decode reconstruct`` scores an LDM.
Prints ``ldm_ceiling: true_embedding=<mean> ridge=<mean>`` with the best-sample figures.

    python benchmarks/ldm_ceiling.py god1.h5        # a store from `brainlens simulate --design god`
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

ALPHAS = (1e2, 1e3, 1e4, 3e4, 1e5)


def main() -> None:
    from brainlens.decoding.data import open_paired
    from brainlens.evaluation.semantic import fine_class_n_way
    from brainlens.insilico.stimuli import to_tensor
    from brainlens.models import load_embedder, load_pipeline
    from brainlens.store import load_split

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", help="a GOD-like in-silico store")
    parser.add_argument("--guidance", type=float, default=3.0)
    parser.add_argument("--samples", type=int, default=5)
    args = parser.parse_args()

    pipe, embedder = load_pipeline("diffusion", dtype=torch.float32), load_embedder("embedder").eval()
    with open_paired(args.store) as store:
        splits = {name: load_split(store, name, average=name != "train") for name in ("train", "val", "test")}
        images = {name: np.asarray(store.images_at(split.image_index)) for name, split in splits.items()}

    @torch.no_grad()
    def embed(pictures: np.ndarray) -> torch.Tensor:  # (n, 128)
        return torch.cat([embedder.embed_images(to_tensor(pictures[i : i + 200])) for i in range(0, len(pictures), 200)]).double()

    def top1(embeddings: torch.Tensor) -> dict:
        draws = []
        for s in range(args.samples):
            out = pipe(embeddings.float(), guidance_scale=args.guidance, num_inference_steps=25,
                       generator=torch.Generator().manual_seed(s), output_type="pt").images
            draws.append((out.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).numpy())
        result = fine_class_n_way(images["test"], np.stack(draws, 1))
        return {"mean": round(result["mean"], 4), "max": round(result["max"], 4)}

    targets = {name: embed(pictures) for name, pictures in images.items()}
    x = torch.from_numpy(splits["train"].betas).double()
    x_mean, y_mean = x.mean(0), targets["train"].mean(0)
    centred = x - x_mean
    gram, cross = centred.T @ centred, centred.T @ (targets["train"] - y_mean)

    def predict(split: str, weight: torch.Tensor) -> torch.Tensor:
        return (torch.from_numpy(splits[split].betas).double() - x_mean) @ weight + y_mean

    scored = []
    for alpha in ALPHAS:
        weight = torch.linalg.solve(gram + alpha * torch.eye(len(gram), dtype=gram.dtype), cross)
        cosine = torch.nn.functional.cosine_similarity(predict("val", weight), targets["val"]).mean().item()
        scored.append((cosine, alpha, weight))
    cosine, alpha, weight = max(scored, key=lambda item: item[0])
    truth, ridge = top1(targets["test"]), top1(predict("test", weight))
    print(f"ldm_ceiling: true_embedding={truth['mean']:.4f} ridge={ridge['mean']:.4f} (best sample: {truth['max']:.4f}, "
          f"{ridge['max']:.4f}; ridge alpha={alpha:g} val_cosine={cosine:.3f}; {len(splits['train'].betas)} training trials, "
          f"{len(images['test'])} test images, {args.samples} samples, guidance={args.guidance})")


if __name__ == "__main__":
    main()
