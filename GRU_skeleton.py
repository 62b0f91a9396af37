"""GRU text classifier -- the course skeleton, completed.

Self-contained: depends on torch only. The packaged, tested version of the same
model lives in ``textrnn`` (``textrnn.GRU`` / ``textrnn.GRUCell``);
``tests/test_skeletons.py`` checks that the two compute the same numbers.

The GRU of Cho et al. (2014), with the reset gate applied to ``h`` *before* the
recurrent product. For input ``x`` and previous state ``h``::

    z  = sigmoid(W_z x + b_z + U_z h)            update gate
    r  = sigmoid(W_r x + b_r + U_r h)            reset gate
    ĥ  = tanh(W_h x + b_h + U_h (r ⊙ h))         candidate state
    h' = (1 - z) ⊙ h + z ⊙ ĥ                     new state

``z`` close to 1 replaces the state with the candidate, close to 0 keeps the old
state; ``r`` close to 0 lets the candidate ignore the old state. (This is not
weight-compatible with ``torch.nn.GRU``, which computes ``r ⊙ (U_h h + b)`` and
lets ``z`` weigh the old state.)
"""

import torch
import torch.nn as nn


class GRUCell(nn.Module):
    """One GRU step, written from the equations above.

    Args:
        input_size: size of the input ``x``.
        hidden_size: size of the state ``h``.

    Attributes:
        W_z, W_r, W_h: ``nn.Linear(input_size, hidden_size)``; weights on the input,
            their biases are ``b_z``, ``b_r``, ``b_h``.
        U_z, U_r, U_h: ``nn.Linear(hidden_size, hidden_size, bias=False)``;
            weights on the previous state.
    """

    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        # input-to-hidden: W x + b
        self.W_z = nn.Linear(input_size, hidden_size)
        self.W_r = nn.Linear(input_size, hidden_size)
        self.W_h = nn.Linear(input_size, hidden_size)
        # hidden-to-hidden: U h (no bias; each gate's bias is in its W)
        self.U_z = nn.Linear(hidden_size, hidden_size, bias=False)
        self.U_r = nn.Linear(hidden_size, hidden_size, bias=False)
        self.U_h = nn.Linear(hidden_size, hidden_size, bias=False)

    def forward(self, x, h_prev):
        """One step: ``(B, input_size), (B, hidden_size) -> (B, hidden_size)``.

        Returns ``h = (1 - z) ⊙ h_prev + z ⊙ ĥ`` with the gates and candidate
        defined in the module docstring.
        """
        z = torch.sigmoid(self.W_z(x) + self.U_z(h_prev))              # update gate
        r = torch.sigmoid(self.W_r(x) + self.U_r(h_prev))              # reset gate
        h_hat = torch.tanh(self.W_h(x) + self.U_h(r * h_prev))         # candidate
        h = (1 - z) * h_prev + z * h_hat                               # new state
        return h


class GRUModel(nn.Module):
    """Embedding -> GRU over every time step -> linear layer on the final state.

    Args:
        vocab_size: number of token ids (rows of the embedding table).
        embedding_dim: size of each token vector.
        hidden_size: size of the GRU state.
        output_size: number of classes (size of the logits).

    Attributes:
        embedding: ``nn.Embedding(vocab_size, embedding_dim)``.
        gru_cell: :class:`GRUCell` ``(embedding_dim, hidden_size)``, applied at
            every step with shared weights.
        fc: ``nn.Linear(hidden_size, output_size)``, logits from ``h_T``.
    """

    def __init__(self, vocab_size, embedding_dim, hidden_size, output_size):
        super().__init__()
        self.hidden_size = hidden_size
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.gru_cell = GRUCell(embedding_dim, hidden_size)
        self.fc = nn.Linear(hidden_size, output_size)

    def forward(self, x):
        """Class logits for a batch of token-id sequences.

        Args:
            x: ``LongTensor`` of shape ``(B, T)``, token ids.

        Returns:
            Tensor of shape ``(B, output_size)``: ``fc(h_T)``, with ``h_0 = 0`` and
            ``h_t = GRUCell(x_t, h_{t-1})``.
        """
        embedded = self.embedding(x)                       # (B, T, embedding_dim)
        batch_size, seq_len, _ = embedded.shape
        h = embedded.new_zeros(batch_size, self.hidden_size)   # h_0 = 0
        for t in range(seq_len):
            h = self.gru_cell(embedded[:, t, :], h)        # h_t from x_t and h_{t-1}
        return self.fc(h)                                  # logits from h_T


if __name__ == "__main__":
    torch.manual_seed(0)
    model = GRUModel(vocab_size=100, embedding_dim=16, hidden_size=32, output_size=5)
    ids = torch.randint(0, 100, (4, 12))                   # batch of 4, 12 tokens each
    logits = model(ids)
    print("input ids:", tuple(ids.shape), "-> logits:", tuple(logits.shape))
