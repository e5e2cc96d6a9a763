"""A small vision transformer (Dosovitskiy et al. 2021, "An image is worth 16x16 words") for the films.

The film ``(N, 1, H, W)`` is cut into ``patch x patch`` squares; each square becomes one token by a linear map
(a convolution with kernel = stride = ``patch``), a learned class token is put in front, learned position
embeddings are added, and ``depth`` encoder blocks mix the tokens. The class token's final state is the film's
embedding ``(N, dim)``; the course head (dropout + linear, :class:`~medfusion_lib.vision.models.ImageClassifier`)
turns it into logits. So the ViT trains with the same :func:`medfusion_lib.vision.train.fit` as the CNNs.

:class:`EncoderBlock` is written out by hand (pre-norm, as in ViT): ``x + MHA(LN(x))`` then
``x + MLP(LN(x))``. :meth:`EncoderBlock.from_torch` copies the weights of torch's
``nn.TransformerEncoderLayer(norm_first=True, batch_first=True, activation="gelu")``, and the two give the same
output (tested). The hand-built block keeps its attention weights ``(N, heads, T, T)`` when asked, which
attention rollout (:mod:`medfusion_lib.explain.rollout`) needs and torch's fast path does not return.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from medfusion_lib.vision.models import ImageClassifier


class EncoderBlock(nn.Module):
    """One pre-norm transformer encoder block: tokens ``(N, T, dim) -> (N, T, dim)``.

    ``attention`` holds the last forward pass's attention weights ``(N, heads, T, T)`` (rows sum to 1) when
    ``keep_attention`` is True, else None.
    """

    def __init__(self, dim: int, heads: int, mlp_dim: int, dropout: float = 0.0, eps: float = 1e-5):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim ({dim}) must be divisible by heads ({heads})")
        self.dim, self.heads = dim, heads
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.qkv = nn.Linear(dim, 3 * dim)       # queries, keys and values of every head in one matrix
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp1 = nn.Linear(dim, mlp_dim)
        self.mlp2 = nn.Linear(mlp_dim, dim)
        self.dropout = nn.Dropout(dropout)
        self.keep_attention = False
        self.attention: torch.Tensor | None = None

    def attend(self, x: torch.Tensor) -> torch.Tensor:
        """Multi-head self-attention ``(N, T, dim) -> (N, T, dim)``: softmax(Q K^T / sqrt(d_head)) V per head."""
        n, t, _ = x.shape
        d_head = self.dim // self.heads
        q, k, v = self.qkv(x).reshape(n, t, 3, self.heads, d_head).permute(2, 0, 3, 1, 4)  # 3 x (N, h, T, d)
        weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(d_head), dim=-1)     # (N, h, T, T)
        self.attention = weights.detach() if self.keep_attention else None
        mixed = self.dropout(weights) @ v                                                 # (N, h, T, d)
        return self.proj(mixed.transpose(1, 2).reshape(n, t, self.dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.dropout(self.attend(self.norm1(x)))
        return x + self.dropout(self.mlp2(self.dropout(F.gelu(self.mlp1(self.norm2(x))))))

    @classmethod
    def from_torch(cls, layer: nn.TransformerEncoderLayer) -> "EncoderBlock":
        """A block with the weights of torch's layer (which must be ``norm_first=True``, GELU, batch-first)."""
        if not layer.norm_first or not getattr(layer.self_attn, "batch_first", False):
            raise ValueError("copy only from nn.TransformerEncoderLayer(..., batch_first=True, norm_first=True)")
        if layer.activation is not F.gelu and not isinstance(layer.activation, nn.GELU):
            raise ValueError("the torch layer must use activation='gelu' like the ViT block")
        dim, heads = layer.self_attn.embed_dim, layer.self_attn.num_heads
        block = cls(dim, heads, layer.linear1.out_features, eps=layer.norm1.eps)
        with torch.no_grad():
            block.qkv.weight.copy_(layer.self_attn.in_proj_weight)
            block.qkv.bias.copy_(layer.self_attn.in_proj_bias)
            block.proj.load_state_dict(layer.self_attn.out_proj.state_dict())
            for mine, theirs in ((block.norm1, layer.norm1), (block.norm2, layer.norm2),
                                 (block.mlp1, layer.linear1), (block.mlp2, layer.linear2)):
                mine.load_state_dict(theirs.state_dict())
        return block


class _ViTBackbone(nn.Module):
    """Patch embedding + class token + position embeddings + blocks + final norm: ``(N, C, H, W) -> (N, dim)``."""

    def __init__(self, in_channels: int, image_size: int, patch: int, dim: int, depth: int, heads: int,
                 mlp_ratio: float, dropout: float):
        super().__init__()
        if image_size % patch:
            raise ValueError(f"image_size ({image_size}) must be a multiple of patch ({patch}); resize the films "
                             "(e.g. size=32 with patch=4)")
        self.image_size, self.patch = image_size, patch
        self.grid = image_size // patch
        self.patch_embed = nn.Conv2d(in_channels, dim, kernel_size=patch, stride=patch)  # one token per square
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, 1 + self.grid ** 2, dim) * 0.02)
        self.blocks = nn.ModuleList(EncoderBlock(dim, heads, int(dim * mlp_ratio), dropout) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """The token sequence after the last block, ``(N, 1 + grid**2, dim)`` (class token first)."""
        if tuple(x.shape[-2:]) != (self.image_size, self.image_size):
            raise ValueError(f"this ViT takes {self.image_size}x{self.image_size} films; got "
                             f"{tuple(x.shape[-2:])} — pass size={self.image_size} when you build the dataset")
        patches = self.patch_embed(x).flatten(2).transpose(1, 2)                # (N, grid**2, dim)
        x = torch.cat([self.cls_token.expand(len(x), -1, -1), patches], dim=1) + self.pos_embed
        for block in self.blocks:
            x = block(x)
        return self.norm(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tokens(x)[:, 0]


class VisionTransformer(ImageClassifier):
    """A small ViT with the course's model interface: ``(N, 1, image_size, image_size)`` in ``[0, 1]`` ->
    ``(N, num_classes)`` logits; :meth:`embed` gives the class token ``(N, dim)``.

    Defaults (32 px films, 8 px patches -> 16 tokens + the class token, 4 blocks of width 48, 4 heads) give
    about 80 k parameters and about the CPU time per film of the width-8
    :class:`~medfusion_lib.vision.models.CompactCNN`. Attention compares every token with every other, so the cost
    grows with the square of the token count: with 4 px patches (65 tokens) the same ViT is several times slower.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 2, image_size: int = 32, patch: int = 8,
                 dim: int = 48, depth: int = 4, heads: int = 4, mlp_ratio: float = 2.0, dropout: float = 0.1):
        backbone = _ViTBackbone(in_channels, image_size, patch, dim, depth, heads, mlp_ratio, dropout)
        spec = {"name": "vit", "in_channels": in_channels, "num_classes": num_classes, "image_size": image_size,
                "patch": patch, "dim": dim, "depth": depth, "heads": heads, "mlp_ratio": mlp_ratio,
                "dropout": dropout}
        super().__init__(backbone, dim, num_classes, in_channels, dropout, spec)

    @property
    def blocks(self) -> nn.ModuleList:
        return self.backbone.blocks

    @property
    def grid(self) -> int:
        """Patches per side: the class token attends to ``grid x grid`` patches."""
        return self.backbone.grid

    def attentions(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Attention weights of every block, a list of ``depth`` tensors ``(N, heads, T, T)`` (eval mode,
        no gradient), with ``T = 1 + grid**2`` and the class token at index 0."""
        was_training = self.training
        self.eval()
        for block in self.blocks:
            block.keep_attention = True
        try:
            with torch.no_grad():
                self.embed(x)
            return [block.attention for block in self.blocks]
        finally:
            for block in self.blocks:
                block.keep_attention, block.attention = False, None
            self.train(was_training)
