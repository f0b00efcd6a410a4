"""Information Bottleneck layers and VIB recurrent cells."""

from har_vib.vib.bottleneck import InformationBottleneck
from har_vib.vib.recurrent import GRU_GATES, LSTM_GATES, VIBGRU, VIBLSTM

__all__ = ["GRU_GATES", "LSTM_GATES", "VIBGRU", "VIBLSTM", "InformationBottleneck"]
