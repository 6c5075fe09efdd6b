"""Diffusion, the TabDDPM-class model: Gaussian diffusion on normal scores of the numbers and
masked diffusion on the categories, one MLP denoiser, a few-step DDIM-style sampler."""

from engine.models.diffusion.model import Diffusion

__all__ = ["Diffusion"]
