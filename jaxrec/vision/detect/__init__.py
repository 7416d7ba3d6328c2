"""Generated-image detection (Xu et al., arXiv 2502.19716, survey): detectors by the survey's
taxonomy. Built so far: the imperceptible-feature inputs (NPR, Fourier spectra) in
:mod:`jaxrec.vision.detect.features`; real-vs-fake folders are read by
:mod:`jaxrec.data.image_folders`."""

from jaxrec.vision.detect.features import NPR_SCALE, log_spectrum, npr, radial_spectrum

__all__ = ["NPR_SCALE", "log_spectrum", "npr", "radial_spectrum"]
