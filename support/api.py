"""Support API (`/api/v1/customers/`, `/api/v1/trips/`): list and detail reads with django-filter filters, in the
same scope as the record pages (``support.records.customers_for`` / ``trips_for``; a province user sees only the
bindings and titles of their province's cards). Personal data is masked by ``piaogen.privacy`` in lists, and in
details unless the caller revealed it for that customer (``support.privacy``).
Amounts are integer fen, like the invoicing API."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet
from rest_framework import mixins, serializers, viewsets

from invoicing.models import BuyerTitle, CardBinding, Customer
from piaogen.access import ALL_ROLES
from piaogen.models import User
from piaogen.privacy import REVEALED_CUSTOMERS, MaskedModelSerializer
from support.filters import CustomerFilter, TripFilter
from support.privacy import ActiveReveals
from support.records import bindings_for, customers_for, segments_for, titles_for, trips_for
from tolling.models import Segment, Trip


def _user(request: Any) -> User:
    assert isinstance(request.user, User)
    return request.user


class CardBindingSerializer(serializers.ModelSerializer[CardBinding]):
    class Meta:
        model = CardBinding
        fields = ["card_no", "bound_at", "unbound_at"]
        read_only_fields = fields


class BuyerTitleSerializer(MaskedModelSerializer):
    class Meta:
        model = BuyerTitle
        fields = ["id", "card_no", "kind", "name", "tax_id", "valid_from"]
        read_only_fields = fields


class CustomerSerializer(MaskedModelSerializer):
    class Meta:
        model = Customer
        fields = ["id", "kind", "name", "phone", "id_type", "id_no", "province", "created_at"]
        read_only_fields = fields


class CustomerDetailSerializer(CustomerSerializer):
    bindings = CardBindingSerializer(many=True, read_only=True)
    titles = BuyerTitleSerializer(many=True, read_only=True)

    class Meta(CustomerSerializer.Meta):
        fields = [*CustomerSerializer.Meta.fields, "bindings", "titles"]
        read_only_fields = fields


class CustomerViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Customer]):
    """Customer accounts (票根 users) with their card bindings and buyer title versions; PII masked."""

    queryset = Customer.objects.none()  # the schema's type of `id`; requests use get_queryset
    filterset_class = CustomerFilter
    allowed_roles = ALL_ROLES

    def get_queryset(self) -> QuerySet[Customer]:
        user = _user(self.request)
        customers = customers_for(user).order_by("-pk")
        if self.action == "retrieve":
            return customers.prefetch_related(
                Prefetch("bindings", queryset=bindings_for(user).order_by("-bound_at")),
                Prefetch("titles", queryset=titles_for(user).order_by("card_no", "-valid_from")),
            )
        return customers

    def get_serializer_class(self) -> type[serializers.BaseSerializer[Customer]]:
        return CustomerDetailSerializer if self.action == "retrieve" else CustomerSerializer

    def get_serializer_context(self) -> dict[str, Any]:
        context = dict(super().get_serializer_context())
        if self.action == "retrieve":  # lists stay masked; a record shows what its reader revealed
            context[REVEALED_CUSTOMERS] = ActiveReveals(self.request.user)
        return context


class SegmentSerializer(serializers.ModelSerializer[Segment]):
    toll_unit = serializers.SlugRelatedField(read_only=True, slug_field="code")  # type: ignore[var-annotated]

    class Meta:
        model = Segment
        fields = [
            "id",
            "segment_no",
            "toll_unit",
            "province",
            "entry_time",
            "exit_time",
            "entry_station",
            "exit_station",
            "pay_fee",
            "discount_fee",
            "fee",
            "service_date",
        ]
        read_only_fields = fields


class TripSerializer(serializers.ModelSerializer[Trip]):
    class Meta:
        model = Trip
        fields = [
            "id",
            "pass_id",
            "card_no",
            "card_type",
            "plate",
            "plate_color",
            "vehicle_class",
            "entry_time",
            "exit_time",
            "service_date",
        ]
        read_only_fields = fields


class TripDetailSerializer(TripSerializer):
    segments = serializers.SerializerMethodField()

    class Meta(TripSerializer.Meta):
        fields = [*TripSerializer.Meta.fields, "segments"]
        read_only_fields = fields

    def get_segments(self, trip: Trip) -> list[dict[str, Any]]:
        """The trip's segments the caller may see (a province user: their province's toll units only)."""
        segments = segments_for(_user(self.context["request"])).filter(pass_id=trip.pass_id).order_by("segment_no")
        return list(SegmentSerializer(segments.select_related("toll_unit"), many=True).data)


class TripViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Trip]):
    """Trips (通行) with their segments and 应收/优惠/实收 per segment (fen)."""

    queryset = Trip.objects.none()
    filterset_class = TripFilter
    allowed_roles = ALL_ROLES

    def get_queryset(self) -> QuerySet[Trip]:
        # newest first by primary key: no sort over the table (trips have no service-date index of their own)
        return trips_for(_user(self.request)).order_by("-pk")

    def get_serializer_class(self) -> type[serializers.BaseSerializer[Trip]]:
        return TripDetailSerializer if self.action == "retrieve" else TripSerializer
