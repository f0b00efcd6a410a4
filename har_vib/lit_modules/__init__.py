"""The LightningModules and Trainer fits of the method packages (the Lightning layer, with
:mod:`har_vib.lit_module`, :mod:`har_vib.callbacks`, :mod:`har_vib.datamodules` and :mod:`har_vib.pipeline`):

- :mod:`har_vib.lit_modules.image`: :class:`ImageLitModule`, the image classifiers of :mod:`har_vib.vibnet`;
- :mod:`har_vib.lit_modules.encoder_fit`: :class:`EncoderFitModule` and :func:`fit_encoder`, the frame-encoder
  training of :mod:`har_vib.encoders`;
- :mod:`har_vib.lit_modules.encoder_compress`: :func:`compress_encoder`, the encoder-compression stage that runs
  those fits.

The method packages stay pure PyTorch and never import this one (``tests/test_layering.py``). Nothing is imported
here eagerly: each submodule pulls only what it needs."""
