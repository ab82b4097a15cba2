"""Offline speech synthesis with espeak-ng (shipped by the `espeakng-loader` wheel) via ctypes,
returning the audio and the synthesiser's own phoneme timing."""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

import numpy as np

from ..errors import TalkfaceError

_SYNCHRONOUS, _PHONEME_EVENTS = 2, 0x0001
_EV_END, _EV_PHONEME = 0, 7
RATE, VOLUME, PITCH, RANGE = 1, 2, 3, 4


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_LIBC = ctypes.CDLL(None)
_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


@dataclass
class Speech:
    audio: np.ndarray  # (N,) float32 at `sample_rate`
    sample_rate: int
    phonemes: list[tuple[str, float]]  # (espeak phoneme mnemonic, start time in s)


class Espeak:
    """One espeak-ng instance per process (the library keeps global state)."""

    _lib = None
    _rate = 0

    def __init__(self) -> None:
        if Espeak._lib is None:
            try:
                import espeakng_loader
            except ImportError:
                raise TalkfaceError(
                    "speech synthesis needs espeakng-loader: pip install 'talkface[synth]'"
                ) from None
            lib = ctypes.CDLL(espeakng_loader.get_library_path())
            lib.espeak_Initialize.restype = ctypes.c_int
            rate = lib.espeak_Initialize(
                _SYNCHRONOUS, 0, espeakng_loader.get_data_path().encode(), _PHONEME_EVENTS
            )
            if rate <= 0:
                raise TalkfaceError("espeak-ng failed to initialise")
            Espeak._lib, Espeak._rate = lib, rate
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[str, int]] = []
        self._cb = _CALLBACK(self._collect)  # kept alive as long as this object
        Espeak._lib.espeak_SetSynthCallback(self._cb)

    def _collect(self, wav, n, events) -> int:  # noqa: ANN001 - ctypes callback
        if n > 0 and wav:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).astype(np.float32) / 32768.0)
        i = 0
        while events[i].type != _EV_END:
            if events[i].type == _EV_PHONEME:
                self._events.append(
                    (events[i].id.string.decode("utf-8", "replace"), events[i].audio_position)
                )
            i += 1
        return 0

    def say(
        self,
        text: str,
        voice: str = "en-us",
        rate: int = 160,
        pitch: int = 50,
        pitch_range: int = 50,
        volume: int = 100,
        seed: int = 0,
    ) -> Speech:
        """Synthesise `text`; rate in words/min (80-450), pitch and range 0-99, volume 0-200."""
        lib = Espeak._lib
        lib.espeak_SetSynthCallback(self._cb)
        if lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise TalkfaceError(f"espeak-ng has no voice {voice!r}")
        for param, value in ((RATE, rate), (PITCH, pitch), (RANGE, pitch_range), (VOLUME, volume)):
            lib.espeak_SetParameter(param, int(value), 0)
        self._chunks, self._events = [], []
        # Voices with breath or flutter draw on random numbers: fix both generators per utterance.
        lib.espeak_ng_SetRandSeed(ctypes.c_long(seed))
        _LIBC.srand(ctypes.c_uint(seed))
        data = text.encode() + b"\0"
        if lib.espeak_Synth(data, len(data), 0, 1, 0, 0, None, None) != 0:
            raise TalkfaceError(f"espeak-ng could not synthesise {text!r}")
        lib.espeak_Synchronize()
        audio = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.float32)
        phonemes = [(name, ms / 1000.0) for name, ms in self._events]
        return Speech(audio, Espeak._rate, phonemes)
