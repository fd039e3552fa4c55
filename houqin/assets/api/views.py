"""API of the assets app: cards (register with POST, descriptive edits with PUT/PATCH), the category tree and the
event ledger (read-only)."""

from rest_framework import mixins, viewsets

from houqin.assets.api.analytics import AnalyticsActions
from houqin.assets.api.custody import CustodyActions
from houqin.assets.api.disposal import DisposalActions
from houqin.assets.api.scan import ScanActions
from houqin.assets.api.serializers import AssetCategorySerializer, AssetEventSerializer, AssetSerializer
from houqin.assets.api.stocktake import StocktakeActions
from houqin.assets.filtersets import AssetCategoryFilterSet, AssetEventFilterSet, AssetFilterSet
from houqin.assets.models import Asset, AssetCategory, AssetEvent
from houqin.core.api.router import router
from houqin.core.api.viewsets import TenantReadOnlyViewSet, TenantViewSetMixin


class AssetViewSet(CustodyActions, DisposalActions, StocktakeActions, ScanActions, AnalyticsActions,
                   TenantViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                   mixins.UpdateModelMixin, viewsets.GenericViewSet):
    """资产卡片。POST 登记入账（自动编号、写入资产履历）；PUT/PATCH 只修改描述性信息（品牌、型号、供应商、发票号等）。
    状态、存放地点、使用部门、保管人和价值只能通过业务操作变更；卡片不能删除（处置后核销）。"""

    queryset = Asset.objects.all()
    serializer_class = AssetSerializer
    filterset_class = AssetFilterSet
    select_related = ("category",)
    ordering = "-pk"
    ordering_fields = ("number", "name", "acquired_on", "original_value", "updated_at")


class AssetCategoryViewSet(TenantReadOnlyViewSet):
    """资产分类（GB/T 14885）：国家标准分类所有学校共用；学校自定义的下级分类只对本校可见。"""

    queryset = AssetCategory.objects.all()
    serializer_class = AssetCategorySerializer
    filterset_class = AssetCategoryFilterSet
    ordering = "path"
    ordering_fields = ("code", "name", "path", "updated_at")


class AssetEventViewSet(TenantReadOnlyViewSet):
    """资产变动记录：只增不改，由登记、领用、调拨、处置等业务操作写入。"""

    queryset = AssetEvent.objects.all()
    serializer_class = AssetEventSerializer
    filterset_class = AssetEventFilterSet
    ordering = "-pk"
    ordering_fields = ("time",)


router.register("assets/assets", AssetViewSet)
router.register("assets/categories", AssetCategoryViewSet)
router.register("assets/events", AssetEventViewSet)
