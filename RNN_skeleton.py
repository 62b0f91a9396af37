"""Vanilla (Elman) RNN text classifier -- the course skeleton, completed.

Self-contained: depends on torch only. The packaged, tested version of the same
model lives in ``textrnn`` (``textrnn.RNN`` / ``textrnn.VanillaRNNCell``);
``tests/test_skeletons.py`` checks that the two compute the same numbers.

Equations, for one sequence of token ids ``w_1 .. w_T``::

    x_t = E[w_t]                                  embedding lookup
    h_0 = 0
    h_t = tanh(W_x x_t + b_h + W_h h_{t-1})       t = 1 .. T
    y   = W_o h_T + b_o                           class logits
"""

import torch
import torch.nn as nn


class VanillaRNN(nn.Module):
    """Embedding -> Elman recurrence over every time step -> linear layer on ``h_T``.

    Args:
        vocab_size: number of token ids (rows of the embedding table).
        embedding_dim: size of each token vector ``x_t``.
        hidden_size: size of the hidden state ``h_t``.
        output_size: number of classes (size of the logits).

    Attributes:
        embedding: ``nn.Embedding(vocab_size, embedding_dim)``, the table ``E``.
        Wx: ``nn.Linear(embedding_dim, hidden_size)``; its weight is ``W_x`` and its
            bias is the hidden bias ``b_h``.
        Wh: ``nn.Linear(hidden_size, hidden_size, bias=False)``, the recurrent
            weight ``W_h`` (no bias: ``b_h`` is already added by ``Wx``).
        fc: ``nn.Linear(hidden_size, output_size)``, the output layer ``W_o, b_o``.
    """

    def __init__(self, vocab_size, embedding_dim, hidden_size, output_size):
        super().__init__()
        self.hidden_size = hidden_size
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.Wx = nn.Linear(embedding_dim, hidden_size)              # W_x x_t + b_h
        self.Wh = nn.Linear(hidden_size, hidden_size, bias=False)    # W_h h_{t-1}
        self.fc = nn.Linear(hidden_size, output_size)                # W_o h_T + b_o

    def forward(self, x):
        """Class logits for a batch of token-id sequences.

        Args:
            x: ``LongTensor`` of shape ``(B, T)``, token ids.

        Returns:
            Tensor of shape ``(B, output_size)``: ``fc(h_T)``, where ``h_T`` is the
            hidden state after the last step of
            ``h_t = tanh(W_x x_t + b_h + W_h h_{t-1})`` started from ``h_0 = 0``.
        """
        embedded = self.embedding(x)                       # (B, T, embedding_dim)
        batch_size, seq_len, _ = embedded.shape
        h = embedded.new_zeros(batch_size, self.hidden_size)   # h_0 = 0
        for t in range(seq_len):
            x_t = embedded[:, t, :]                        # (B, embedding_dim)
            h = torch.tanh(self.Wx(x_t) + self.Wh(h))      # h_t from x_t and h_{t-1}
        return self.fc(h)                                  # logits from h_T


if __name__ == "__main__":
    torch.manual_seed(0)
    model = VanillaRNN(vocab_size=100, embedding_dim=16, hidden_size=32, output_size=5)
    ids = torch.randint(0, 100, (4, 12))                   # batch of 4, 12 tokens each
    logits = model(ids)
    print("input ids:", tuple(ids.shape), "-> logits:", tuple(logits.shape))
